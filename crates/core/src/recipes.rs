//! The recipes a deployment runs, each with the ASL definition it executes.

use greenlight_recipes::{Recipe, RecipeError, compile, parse_recipe};
use serde_json::Value;

pub struct LoadedRecipe {
    pub recipe: Recipe,
    /// The state machine definition, placeholders unsubstituted.
    pub asl: Value,
}

#[derive(Default)]
pub struct RecipeBook {
    recipes: Vec<LoadedRecipe>,
}

#[derive(Debug, thiserror::Error)]
pub enum BookError {
    #[error(transparent)]
    Recipe(#[from] RecipeError),
    #[error("{0}: the ASL is not JSON: {1}")]
    Asl(String, String),
    #[error(
        "{0}: the committed ASL differs from what the recipe compiles to; run `greenlight recipes compile`"
    )]
    Drift(String),
    #[error("two recipes have the id `{0}`")]
    Duplicate(String),
}

impl RecipeBook {
    /// The seeded recipes with their committed ASL (checked against the compiler).
    pub fn seeded() -> Result<RecipeBook, BookError> {
        let mut book = RecipeBook::default();
        for s in greenlight_recipes::seeded() {
            book.add_with_asl(&format!("{}.yaml", s.id), s.yaml, s.asl)?;
        }
        Ok(book)
    }

    /// Adds a recipe whose ASL is committed beside it.
    pub fn add_with_asl(&mut self, name: &str, yaml: &str, asl: &str) -> Result<(), BookError> {
        let recipe = parse_recipe(name, yaml)?;
        let asl: Value =
            serde_json::from_str(asl).map_err(|e| BookError::Asl(name.to_string(), e.to_string()))?;
        if asl != compile(&recipe) {
            return Err(BookError::Drift(name.to_string()));
        }
        self.push(LoadedRecipe { recipe, asl })
    }

    /// Adds a recipe, compiling its ASL now (custom recipes in dev and tests).
    pub fn add_compiled(&mut self, name: &str, yaml: &str) -> Result<(), BookError> {
        let recipe = parse_recipe(name, yaml)?;
        let asl = compile(&recipe);
        self.push(LoadedRecipe { recipe, asl })
    }

    fn push(&mut self, loaded: LoadedRecipe) -> Result<(), BookError> {
        if self.get(&loaded.recipe.id).is_some() {
            return Err(BookError::Duplicate(loaded.recipe.id.clone()));
        }
        self.recipes.push(loaded);
        Ok(())
    }

    pub fn get(&self, id: &str) -> Option<&LoadedRecipe> {
        self.recipes.iter().find(|r| r.recipe.id == id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &LoadedRecipe> {
        self.recipes.iter()
    }
}
