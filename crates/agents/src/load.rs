//! Loading a workspace's brand data from a directory laid out as
//! `samplesdata/workspaces/<id>/` (the one piece of IO in this crate; the
//! product uses it to seed workspaces, the tests to load the samples).

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use crate::types::{BrandProfile, Creator, Post, Product, ShopProfile, WorkspaceData};

/// The files a workspace directory holds.
pub const BRAND_FILE: &str = "brand-profile.json";
pub const PRODUCTS_FILE: &str = "products.json";
pub const CREATORS_FILE: &str = "creators.json";
pub const POSTS_FILE: &str = "posts.json";
pub const SHOP_FILE: &str = "shop-profile.json";

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path} is not valid: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
}

fn read<T: DeserializeOwned>(dir: &Path, file: &str) -> Result<T, LoadError> {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).map_err(|source| LoadError::Io {
        path: path.clone(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| LoadError::Parse { path, source })
}

/// Reads `brand-profile.json`, `products.json`, `creators.json`, `posts.json`
/// and `shop-profile.json` from `dir`.
pub fn load_workspace_dir(dir: &Path) -> Result<WorkspaceData, LoadError> {
    let brand: BrandProfile = read(dir, BRAND_FILE)?;
    let products: Vec<Product> = read(dir, PRODUCTS_FILE)?;
    let creators: Vec<Creator> = read(dir, CREATORS_FILE)?;
    let posts: Vec<Post> = read(dir, POSTS_FILE)?;
    let shop: ShopProfile = read(dir, SHOP_FILE)?;
    Ok(WorkspaceData {
        brand,
        products,
        creators,
        posts,
        shop,
    })
}

fn parse<T: DeserializeOwned>(file: &str, text: &str) -> Result<T, LoadError> {
    serde_json::from_str(text).map_err(|source| LoadError::Parse {
        path: PathBuf::from(file),
        source,
    })
}

/// Parses the five documents from strings (e.g. embedded with
/// `include_str!`), in the order of the files above.
pub fn parse_workspace(
    brand: &str,
    products: &str,
    creators: &str,
    posts: &str,
    shop: &str,
) -> Result<WorkspaceData, LoadError> {
    Ok(WorkspaceData {
        brand: parse(BRAND_FILE, brand)?,
        products: parse(PRODUCTS_FILE, products)?,
        creators: parse(CREATORS_FILE, creators)?,
        posts: parse(POSTS_FILE, posts)?,
        shop: parse(SHOP_FILE, shop)?,
    })
}
