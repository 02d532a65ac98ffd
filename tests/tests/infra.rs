//! The SAM template (`infra/template.yaml`) agrees with the code: every state
//! machine substitutes exactly the placeholder set of the recipes and the
//! local engine, each placeholder names its function, each machine may invoke
//! only the functions its ASL uses, and every function is a `cargo lambda
//! build` output. (`cfn-lint` checks the rest, in `scripts/test`.)

use greenlight_recipes::all_function_placeholders;
use greenlight_recipes::compile::pascal_case;
use greenlight_tests::repo;
use serde_yaml_ng::{Mapping, Value};
use std::collections::BTreeSet;
use std::path::PathBuf;

/// The Lambda binaries in `functions/` (crate = binary = kebab-case).
const BINARIES: &[&str] = &[
    "approvals-api",
    "approval-gate",
    "agent",
    "action",
    "stream-processor",
    "run-finalizer",
    "brief-trigger",
];

fn template() -> Value {
    let path = repo().join("infra/template.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The template's resources of one type, by logical id.
fn resources<'a>(template: &'a Value, kind: &str) -> Vec<(&'a str, &'a Mapping)> {
    let all = template["Resources"].as_mapping().expect("Resources");
    all.iter()
        .filter(|(_, r)| r["Type"].as_str() == Some(kind))
        .map(|(id, r)| {
            let id = id.as_str().expect("a logical id is a string");
            let props = r["Properties"]
                .as_mapping()
                .unwrap_or_else(|| panic!("{id} has no Properties"));
            (id, props)
        })
        .collect()
}

/// `!GetAtt X.Arn` (or `Fn::GetAtt: [X, Arn]`) → `X`.
fn get_att_arn(v: &Value) -> Option<&str> {
    match v {
        Value::Tagged(t) if t.tag == "GetAtt" => t.value.as_str()?.strip_suffix(".Arn"),
        Value::Mapping(m) => match m.get("Fn::GetAtt")?.as_sequence()?.as_slice() {
            [id, attr] if attr.as_str() == Some("Arn") => id.as_str(),
            _ => None,
        },
        _ => None,
    }
}

/// `!Ref X` (or `Ref: X`) → `X`.
fn reference(v: &Value) -> Option<&str> {
    match v {
        Value::Tagged(t) if t.tag == "Ref" => t.value.as_str(),
        Value::Mapping(m) => m.get("Ref")?.as_str(),
        _ => None,
    }
}

/// Resolves a template path (relative to `infra/`) in the repository.
fn from_infra(path: &str) -> PathBuf {
    repo().join("infra").join(path)
}

/// The `${…FunctionArn}` placeholders an ASL file uses.
fn asl_placeholders(text: &str) -> BTreeSet<String> {
    text.split("${")
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name.to_string()))
        .collect()
}

#[test]
fn state_machines_substitute_exactly_the_placeholder_set() {
    let template = template();
    let placeholders: BTreeSet<String> = all_function_placeholders().into_iter().collect();
    let local: BTreeSet<String> = greenlight_local::local_function_table().into_keys().collect();
    assert_eq!(
        placeholders, local,
        "the recipes' placeholders and the local engine's table"
    );

    let machines = resources(&template, "AWS::Serverless::StateMachine");
    let ids: BTreeSet<&str> = machines.iter().map(|(id, _)| *id).collect();
    assert_eq!(
        ids,
        BTreeSet::from([
            "CampaignLaunchStateMachine",
            "PostLaunchLoopStateMachine",
            "ProfileAuditStateMachine"
        ]),
        "one state machine per seeded recipe"
    );
    let functions: BTreeSet<&str> = resources(&template, "AWS::Serverless::Function")
        .into_iter()
        .map(|(id, _)| id)
        .collect();

    for (id, props) in machines {
        assert_eq!(
            props["Type"].as_str(),
            Some("STANDARD"),
            "{id}: a Standard workflow"
        );
        let subs = props["DefinitionSubstitutions"]
            .as_mapping()
            .unwrap_or_else(|| panic!("{id} has no DefinitionSubstitutions"));
        let keys: BTreeSet<String> = subs
            .keys()
            .map(|k| k.as_str().expect("a placeholder is a string").to_string())
            .collect();
        assert_eq!(
            keys, placeholders,
            "{id}: DefinitionSubstitutions must be exactly all_function_placeholders()"
        );
        for (key, value) in subs {
            let key = key.as_str().unwrap();
            let function = key.strip_suffix("Arn").expect("a placeholder ends in Arn");
            assert_eq!(
                get_att_arn(value),
                Some(function),
                "{id}: {key} must be !GetAtt {function}.Arn"
            );
            assert!(
                functions.contains(function),
                "{id}: {key} names no function {function}"
            );
        }

        let uri = props["DefinitionUri"]
            .as_str()
            .unwrap_or_else(|| panic!("{id}: DefinitionUri is a local path"));
        let path = from_infra(uri);
        let asl = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{id}: DefinitionUri {uri} ({}): {e}", path.display()));
        let used = asl_placeholders(&asl);
        assert!(
            used.is_subset(&placeholders),
            "{id}: {uri} uses placeholders outside the set: {:?}",
            used.difference(&placeholders).collect::<Vec<_>>()
        );

        // Least privilege: the machine may invoke exactly the functions its ASL uses.
        let invokable: BTreeSet<String> = props["Policies"]
            .as_sequence()
            .unwrap_or_else(|| panic!("{id} has no Policies"))
            .iter()
            .filter_map(|p| reference(&p.get("LambdaInvokePolicy")?["FunctionName"]))
            .map(|f| format!("{f}Arn"))
            .collect();
        assert_eq!(
            invokable, used,
            "{id}: its LambdaInvokePolicy functions must be the ones {uri} uses"
        );
    }
}

#[test]
fn functions_are_cargo_lambda_binaries() {
    let template = template();
    let functions = resources(&template, "AWS::Serverless::Function");
    assert!(!functions.is_empty(), "the template has functions");
    let mut binaries = BTreeSet::new();
    for (id, props) in functions {
        assert!(
            id.ends_with("Function"),
            "{id}: a function's logical id ends in Function"
        );
        let uri = props["CodeUri"]
            .as_str()
            .unwrap_or_else(|| panic!("{id}: CodeUri is a local path"));
        let binary = uri
            .strip_prefix("../target/lambda/")
            .and_then(|b| b.strip_suffix('/'))
            .unwrap_or_else(|| panic!("{id}: CodeUri {uri} is not ../target/lambda/<binary>/"));
        assert!(
            BINARIES.contains(&binary),
            "{id}: {binary} is not one of {BINARIES:?}"
        );
        binaries.insert(binary);

        // One binary per agent (or action) function: the environment names which,
        // and the logical id is its PascalCase name, as the placeholder is.
        let env = &props
            .get("Environment")
            .and_then(|e| e.get("Variables"))
            .cloned()
            .unwrap_or(Value::Null);
        let named_by = match binary {
            "agent" => Some("GREENLIGHT_AGENT"),
            "action" => Some("GREENLIGHT_ACTION"),
            _ => None,
        };
        match named_by {
            Some(var) => {
                let name = env[var]
                    .as_str()
                    .unwrap_or_else(|| panic!("{id}: the {binary} binary needs {var}"));
                assert_eq!(format!("{}Function", pascal_case(name)), id, "{id}: {var}={name}");
            }
            None => {
                let camel: String = binary.split('-').map(pascal_case).collect();
                assert_eq!(format!("{camel}Function"), id, "{id} runs {binary}");
            }
        }
    }
    let all: BTreeSet<&str> = BINARIES.iter().copied().collect();
    assert_eq!(binaries, all, "every binary is deployed");
}

#[test]
fn the_http_api_routes_the_api_and_the_dashboard_to_the_api_function() {
    let template = template();
    let functions = resources(&template, "AWS::Serverless::Function");
    let (_, api) = functions
        .iter()
        .find(|(id, _)| *id == "ApprovalsApiFunction")
        .expect("ApprovalsApiFunction");
    let routes: BTreeSet<(String, String)> = api["Events"]
        .as_mapping()
        .expect("the API function has events")
        .values()
        .filter(|e| e["Type"] == "HttpApi")
        .map(|e| {
            let p = &e["Properties"];
            (
                p["Method"].as_str().unwrap_or_default().to_string(),
                p["Path"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    for (method, path) in [
        ("ANY", "/api/{proxy+}"),
        ("GET", "/"),
        ("GET", "/{proxy+}"),
        ("GET", "/healthz"),
    ] {
        assert!(
            routes.contains(&(method.to_string(), path.to_string())),
            "{method} {path} is not routed to the API function: {routes:?}"
        );
    }
}
