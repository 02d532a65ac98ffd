//! Recipes: the YAML format of a workflow, its validation, brief schemas, and
//! the compiler to Amazon States Language.
//!
//! No IO: callers read the files; [`seeded`] embeds the seeded recipes and
//! their committed ASL in the binary.

mod brief;
pub mod compile;
mod model;
mod validate;

pub use brief::{BriefError, MAX_BRIEF_BYTES, MAX_STRING_CHARS, check_brief};
pub use compile::{all_function_placeholders, asl_text, compile, errors, function_placeholder, state_name};
pub use model::*;
pub use validate::{Problem, RecipeError, is_role, parse_recipe, validate};

/// A seeded recipe's YAML and its committed ASL, as embedded in the binary.
pub struct SeededRecipe {
    pub id: &'static str,
    pub yaml: &'static str,
    pub asl: &'static str,
}

/// The seeded recipes, embedded from `state-machines/`.
pub fn seeded() -> [SeededRecipe; 3] {
    [
        SeededRecipe {
            id: "profile-audit",
            yaml: include_str!("../../../state-machines/recipes/profile-audit.yaml"),
            asl: include_str!("../../../state-machines/profile-audit.asl.json"),
        },
        SeededRecipe {
            id: "campaign-launch",
            yaml: include_str!("../../../state-machines/recipes/campaign-launch.yaml"),
            asl: include_str!("../../../state-machines/campaign-launch.asl.json"),
        },
        SeededRecipe {
            id: "post-launch-loop",
            yaml: include_str!("../../../state-machines/recipes/post-launch-loop.yaml"),
            asl: include_str!("../../../state-machines/post-launch-loop.asl.json"),
        },
    ]
}
