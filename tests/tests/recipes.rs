//! Recipes: the committed ASL matches the compiler, stays in the engine's
//! subset, and bad recipes are refused with errors naming the step.

use greenlight_recipes::{all_function_placeholders, asl_text, compile, parse_recipe};
use greenlight_tests::repo;
use serde_json::Value;
use std::collections::BTreeSet;

fn recipe_files() -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(repo().join("state-machines/recipes"))
        .expect("state-machines/recipes")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 3, "the three seeded recipes");
    files
}

#[test]
fn committed_asl_is_what_the_compiler_makes() {
    for path in recipe_files() {
        let recipe = parse_recipe(
            &path.display().to_string(),
            &std::fs::read_to_string(&path).unwrap(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let asl_path = repo()
            .join("state-machines")
            .join(format!("{}.asl.json", recipe.id));
        let committed = std::fs::read_to_string(&asl_path).unwrap_or_default();
        assert!(
            committed == asl_text(&recipe),
            "{} differs from what {} compiles to; run `greenlight recipes compile`",
            asl_path.display(),
            path.display()
        );
    }
}

const ALLOWED_TYPES: [&str; 5] = ["Task", "Parallel", "Pass", "Fail", "Succeed"];
const ALLOWED_FIELDS: [&str; 13] = [
    "Type",
    "Comment",
    "Resource",
    "Parameters",
    "ResultPath",
    "Retry",
    "Catch",
    "Next",
    "End",
    "Branches",
    "Error",
    "Cause",
    "Result",
];

fn walk_states(machine: &Value, seen: &mut Vec<String>, problems: &mut Vec<String>) {
    for (name, state) in machine["States"].as_object().expect("States") {
        seen.push(name.clone());
        let ty = state["Type"].as_str().unwrap_or("");
        if !ALLOWED_TYPES.contains(&ty) {
            problems.push(format!("{name}: type {ty}"));
        }
        for field in state.as_object().unwrap().keys() {
            if !ALLOWED_FIELDS.contains(&field.as_str()) {
                problems.push(format!("{name}: field {field}"));
            }
        }
        if ty == "Task" {
            let r = state["Resource"].as_str().unwrap_or("");
            if r != "arn:aws:states:::lambda:invoke" && r != "arn:aws:states:::lambda:invoke.waitForTaskToken"
            {
                problems.push(format!("{name}: resource {r}"));
            }
            if state.get("TimeoutSeconds").is_some() || state.get("HeartbeatSeconds").is_some() {
                problems.push(format!("{name}: a timeout (approvals never time out)"));
            }
            if state["ResultPath"] != Value::Null {
                problems.push(format!("{name}: ResultPath must be null (references only)"));
            }
        }
        for b in state["Branches"].as_array().into_iter().flatten() {
            walk_states(b, seen, problems);
        }
    }
}

fn placeholders(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::String(s) => {
            let mut rest = s.as_str();
            while let Some(i) = rest.find("${") {
                let after = &rest[i + 2..];
                let end = after.find('}').expect("closed placeholder");
                out.insert(after[..end].to_string());
                rest = &after[end..];
            }
        }
        Value::Array(a) => a.iter().for_each(|x| placeholders(x, out)),
        Value::Object(m) => m.values().for_each(|x| placeholders(x, out)),
        _ => {}
    }
}

#[test]
fn the_compiler_emits_only_the_supported_subset() {
    let table = greenlight_local::local_function_table();
    let table_names: BTreeSet<String> = table.keys().cloned().collect();
    assert_eq!(table_names, all_function_placeholders().into_iter().collect());
    let mut definitions = Vec::new();
    for path in recipe_files() {
        let recipe = parse_recipe("r", &std::fs::read_to_string(&path).unwrap()).unwrap();
        let asl = compile(&recipe);
        let mut names = Vec::new();
        let mut problems = Vec::new();
        walk_states(&asl, &mut names, &mut problems);
        assert!(problems.is_empty(), "{}: {problems:?}", recipe.id);
        let unique: BTreeSet<_> = names.iter().collect();
        assert_eq!(
            unique.len(),
            names.len(),
            "state names are unique across {}",
            recipe.id
        );
        assert!(names.iter().all(|n| n.chars().count() <= 80));
        let mut used = BTreeSet::new();
        placeholders(&asl, &mut used);
        assert!(
            used.is_subset(&table_names),
            "{}: {used:?} not all in the local table",
            recipe.id
        );
        // The error names the ASL matches on are the core's constants.
        let text = asl.to_string();
        assert!(text.contains(&format!("\"{}\"", greenlight_recipes::errors::RETRYABLE)));
        if recipe.gates().next().is_some() {
            assert!(text.contains(&format!("\"Error\":\"{}\"", greenlight_recipes::errors::REJECTED)));
        }
        definitions.push((recipe.id.clone(), asl));
    }
    // The engine accepts every definition.
    for (id, def) in &definitions {
        let substituted = greenlight_engine::asl::substitute(def, &table).unwrap();
        greenlight_engine::asl::parse_definition(&substituted).unwrap_or_else(|e| panic!("{id}: {e}"));
    }
}

#[test]
fn campaign_launch_has_its_four_gates_on_parallel_branches() {
    let path = repo().join("state-machines/recipes/campaign-launch.yaml");
    let recipe = parse_recipe("campaign-launch.yaml", &std::fs::read_to_string(path).unwrap()).unwrap();
    let labels: Vec<&str> = recipe.gates().map(|(s, _)| s.label.as_str()).collect();
    assert_eq!(labels, ["Listings", "Publish", "Ad Spend", "Outreach"]);
    let asl = compile(&recipe);
    let start = asl["StartAt"].as_str().unwrap();
    let parallel = &asl["States"][start];
    assert_eq!(parallel["Type"], "Parallel");
    assert_eq!(parallel["Branches"].as_array().unwrap().len(), 4);
    assert_eq!(parallel["Catch"][0]["Next"], "Rejected");
    assert_eq!(asl["States"][parallel["Next"].as_str().unwrap()]["Type"], "Task");
    assert_eq!(asl["States"]["Rejected"]["Type"], "Fail");
    assert_eq!(asl["States"]["Rejected"]["Error"], "Rejected");
    let (_, ads) = recipe.gates().find(|(s, _)| s.key == "ad_spend_gate").unwrap();
    let policy = ads.policy.as_ref().unwrap();
    assert_eq!(policy.required_role, "ops-lead");
    assert_eq!(policy.when_spend_over_usd, Some(1000.0));
    let gate = &parallel["Branches"][2]["States"]["Ad Spend approval"];
    assert_eq!(
        gate["Resource"],
        "arn:aws:states:::lambda:invoke.waitForTaskToken"
    );
    assert_eq!(gate["Parameters"]["Payload"]["task_token.$"], "$$.Task.Token");
    assert_eq!(gate["ResultPath"], Value::Null);
    assert!(
        gate["Retry"][0]["ErrorEquals"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e.as_str().unwrap().starts_with("Lambda."))
    );
}

fn problems_of(yaml: &str) -> String {
    match parse_recipe("bad.yaml", yaml) {
        Ok(_) => panic!("accepted:\n{yaml}"),
        Err(e) => e.to_string(),
    }
}

const HEAD: &str = "id: bad\nname: Bad\nbrief:\n  title: {type: string, required: true}\nsteps:\n";

#[test]
fn bad_recipes_are_refused_naming_the_step() {
    let cases: &[(&str, &str)] = &[
        (
            "  - {key: a, kind: agent, agent: copywriter}\n",
            "step `a`: unknown agent `copywriter`",
        ),
        (
            "  - {key: a, kind: agent, agent: listing_optimizer, after: [b]}\n  - {key: b, kind: agent, agent: compliance, after: [a]}\n",
            "cycle",
        ),
        (
            "  - {key: a, kind: agent, agent: listing_optimizer}\n  - {key: g, kind: approval_gate, after: [a]}\n",
            "step `g`: an approval gate needs `target_output_field`",
        ),
        (
            "  - {key: a, kind: agent, agent: listing_optimizer}\n  - {key: b, kind: agent, agent: creator_outreach}\n  - {key: g, kind: approval_gate, after: [a, b], target_output_field: variants}\n",
            "step `g`: an approval gate must come after exactly one agent step, not 2",
        ),
        (
            "  - {key: g, kind: approval_gate, target_output_field: variants}\n",
            "step `g`: an approval gate must come after exactly one agent step",
        ),
        (
            "  - {key: a, kind: agent, agent: listing_optimizer}\n  - {key: p, kind: action, action: post, after: [a]}\n",
            "step `p`: an action must be downstream of an approval gate",
        ),
        (
            "  - {key: a, kind: agent, agent: listing_optimizer}\n  - {key: a, kind: agent, agent: compliance}\n",
            "step `a`: duplicate step key",
        ),
        (
            // The N shape: c needs a and b, d needs only b.
            "  - {key: a, kind: agent, agent: listing_optimizer}\n  - {key: b, kind: agent, agent: content_producer}\n  - {key: c, kind: agent, agent: compliance, after: [a, b]}\n  - {key: d, kind: agent, agent: creator_outreach, after: [b]}\n",
            "series-parallel",
        ),
        (
            "  - {key: a, kind: agent, agent: listing_optimizer}\n  - {key: g, kind: approval_gate, after: [a], target_output_field: captions}\n",
            "step `g`: `target_output_field` `captions` is not an output of agent `listing_optimizer`",
        ),
        (
            "  - {key: a, kind: agent, agent: listing_optimizer, after: [nope]}\n",
            "step `a`: `after` names `nope`",
        ),
        (
            "  - {key: a, kind: agent, agent: listing_optimizer}\n  - {key: s, kind: synthesis, after: [a]}\n  - {key: b, kind: agent, agent: compliance, after: [s]}\n",
            "step `s`: synthesis must be the last step",
        ),
        (
            "  - {key: a, kind: agent, agent: listing_optimizer}\n  - {key: g, kind: approval_gate, after: [a], target_output_field: variants, blocking: false}\n",
            "step `g`: a non-blocking gate needs an action right after it",
        ),
        (
            "  - {key: a, kind: agent, agent: listing_optimizer, colour: red}\n",
            "unknown field `colour`",
        ),
    ];
    for (steps, expected) in cases {
        let message = problems_of(&format!("{HEAD}{steps}"));
        assert!(message.contains(expected), "expected `{expected}` in: {message}");
    }
}

/// Each problem names the line it is on: the field or value it is about,
/// else its step's first line; in block and in flow style.
#[test]
fn a_refused_recipe_names_the_line_of_each_problem() {
    let one_step = "  - {key: a, kind: agent, agent: listing_optimizer}\n";
    // Block style: a misspelt `after` in the sample recipe.
    let sample = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../state-machines/recipes/campaign-launch.yaml"),
    )
    .unwrap();
    let typo = sample.replacen("after: [listing_optimizer]", "after: [listing_optimiser]", 1);
    assert_ne!(
        typo, sample,
        "the sample recipe changed: pick another field to misspell"
    );
    // Each recipe, and each problem expected in it at the line holding
    // the `nth` (from 0) occurrence of a text.
    type Expected = (&'static str, usize, &'static str);
    let cases: Vec<(String, Vec<Expected>)> = vec![
        (
            typo,
            vec![(
                "listing_optimiser",
                0,
                "step `listings_gate`: `after` names `listing_optimiser`",
            )],
        ),
        // A field that is missing: the step's first line.
        (
            format!(
                "{HEAD}  - key: a\n    kind: agent\n    agent: listing_optimizer\n  - label: The gate\n    key: g\n    kind: approval_gate\n    after: [a]\n"
            ),
            vec![(
                "label: The gate",
                0,
                "step `g`: an approval gate needs `target_output_field`",
            )],
        ),
        // Flow style: a value on the step's line (a step commented out is
        // not it); a duplicate key is the later one.
        (
            format!(
                "{HEAD}{one_step}  # - {{key: b, kind: agent, agent: copywriter}}\n  - {{key: b, kind: agent, agent: copywriter}} # draft\n  - {{key: a, kind: agent, agent: compliance}}\n"
            ),
            vec![
                ("copywriter", 1, "step `b`: unknown agent `copywriter`"),
                ("key: a", 1, "step `a`: duplicate step key"),
            ],
        ),
        // A problem with the recipe as a whole: the line of what it names.
        (
            format!(
                "{}{one_step}",
                HEAD.replace("brief:\n", "brief:\n  Bad-Name: {type: string}\n")
            ),
            vec![("Bad-Name", 0, "brief field `Bad-Name` must be snake_case ASCII")],
        ),
        // The id's own line, not a comment above it that says the same.
        (
            format!(
                "# id: Bad_Id was the old name\n{}{one_step}",
                HEAD.replace("id: bad", "id: Bad_Id")
            ),
            vec![("id: Bad_Id", 1, "recipe id `Bad_Id`")],
        ),
    ];
    for (yaml, expected) in &cases {
        let message = problems_of(yaml);
        for (text, nth, problem) in expected {
            let line = yaml
                .lines()
                .enumerate()
                .filter(|(_, l)| l.contains(text))
                .nth(*nth)
                .map(|(i, _)| i + 1)
                .unwrap_or_else(|| panic!("no `{text}` in:\n{yaml}"));
            let want = format!("line {line}: {problem}");
            assert!(message.contains(&want), "expected `{want}` in: {message}");
        }
    }
}

#[test]
fn series_parallel_shapes_that_fit_are_accepted() {
    // Two agents that both feed two gates' agents: a K2,2 join, expressible as
    // one parallel block after another.
    let yaml = format!(
        "{HEAD}  - {{key: a, kind: agent, agent: listing_optimizer}}\n  - {{key: b, kind: agent, agent: content_producer}}\n  - {{key: c, kind: agent, agent: compliance, after: [a, b]}}\n  - {{key: d, kind: agent, agent: creator_outreach, after: [a, b]}}\n  - {{key: s, kind: synthesis, after: [c, d]}}\n"
    );
    let recipe = parse_recipe("ok.yaml", &yaml).unwrap_or_else(|e| panic!("{e}"));
    let asl = compile(&recipe);
    let first = &asl["States"][asl["StartAt"].as_str().unwrap()];
    assert_eq!(first["Type"], "Parallel");
    let second = &asl["States"][first["Next"].as_str().unwrap()];
    assert_eq!(second["Type"], "Parallel");
}
