//! `greenlight admin` against the embedded store, then the token it issued
//! used against `greenlight dev` on that store, then revoked.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn greenlight() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_greenlight"));
    c.env_remove("ANTHROPIC_API_KEY")
        .env_remove("GREENLIGHT_STORE")
        .stdin(Stdio::null());
    c
}

fn admin(store: &str, args: &[&str]) -> (bool, String, String) {
    let out = greenlight()
        .args(["admin", "--store", store])
        .args(args)
        .output()
        .expect("greenlight runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// A fresh SQLite store (kept while the directory is) and its `--store` value.
fn sqlite_store() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", dir.path().join("greenlight.sqlite3").display());
    (dir, store)
}

/// `admin workspace create` of `id` with a sample brand's data.
fn create_workspace(store: &str, id: &str, name: &str, cap: &str, brand: &str) -> (bool, String, String) {
    let brand = greenlight_tests::samples().join("workspaces").join(brand);
    admin(
        store,
        &[
            "workspace",
            "create",
            "--id",
            id,
            "--name",
            name,
            "--spend-cap-usd",
            cap,
            "--brand-dir",
            brand.to_str().expect("a UTF-8 path"),
        ],
    )
}

/// `admin member add` of `ann` to the `acme` workspace.
fn add_member(store: &str, name: &str, role: &str) -> (bool, String, String) {
    let args = ["member", "add", "--workspace", "acme", "--id", "ann"];
    admin(store, &[&args[..], &["--name", name, "--role", role]].concat())
}

fn get(url: &str, token: &str) -> u16 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        reqwest::Client::new()
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    })
}

#[test]
fn admin_creates_a_workspace_member_and_token_that_the_api_accepts_until_revoked() {
    let (dir, store) = sqlite_store();
    let (ok, out, err) = create_workspace(&store, "acme", "Acme Outdoors", "2500", "harbor");
    assert!(ok, "{err}");
    assert!(out.contains("$2,500.00"), "{out}");
    // A member of a workspace that does not exist is refused, naming it.
    let (ok, _, err) = admin(
        &store,
        &[
            "member",
            "add",
            "--workspace",
            "nope",
            "--id",
            "ann",
            "--name",
            "Ann",
        ],
    );
    assert!(!ok);
    assert!(err.contains("no workspace nope"), "{err}");
    let (ok, out, err) = add_member(&store, "Ann Lee", "ops-lead");
    assert!(ok, "{err}");
    assert!(out.contains("member, ops-lead"), "{out}");
    let (ok, token, err) = admin(
        &store,
        &["token", "issue", "--workspace", "acme", "--member", "ann"],
    );
    assert!(ok, "{err}");
    let token = token.trim().to_string();
    assert!(token.starts_with("glt_") && token.len() == 68, "{token}");
    // Stored only as a hash: the clear token is nowhere in the database file.
    let db = std::fs::read(dir.path().join("greenlight.sqlite3")).unwrap();
    assert!(!db.windows(token.len()).any(|w| w == token.as_bytes()));

    // The API on that store accepts it.
    let mut child = greenlight()
        .args(["dev", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .arg("--samples")
        .arg(greenlight_tests::samples())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = loop {
        let line = lines.next().expect("address printed").unwrap();
        if let Some(rest) = line.strip_prefix("Greenlight is running at ") {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    assert_eq!(get(&format!("{url}/api/me"), &token), 200);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let me: Value = rt.block_on(async {
        reqwest::Client::new()
            .get(format!("{url}/api/me"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    assert_eq!(me["workspace_id"], "acme");
    assert_eq!(me["roles"], serde_json::json!(["member", "ops-lead"]));

    let (ok, _, err) = greenlight()
        .args(["admin", "--store", &store, "token", "revoke"])
        .env("GREENLIGHT_REVOKE_TOKEN", &token)
        .output()
        .map(|o| {
            (
                o.status.success(),
                String::new(),
                String::from_utf8_lossy(&o.stderr).to_string(),
            )
        })
        .unwrap();
    assert!(ok, "{err}");
    assert_eq!(get(&format!("{url}/api/me"), &token), 401);
    let _ = child.kill();
    let _ = child.wait();
    let (ok, _, err) = admin(&store, &["token", "revoke", "--token", &token]);
    assert!(!ok);
    assert!(err.contains("no such token"), "{err}");
}

#[test]
fn admin_works_against_dynamodb() {
    use greenlight_core::ports::Store;
    let moto = greenlight_tests::moto::Moto::start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = greenlight_store_dynamodb::DynamoStore::new(moto.dynamodb(), "greenlight");
    rt.block_on(store.create_table()).unwrap();
    let run = |args: &[&str]| {
        let out = greenlight()
            .env("AWS_ENDPOINT_URL", &moto.endpoint)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .args(["admin", "--store", "dynamodb:greenlight"])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let brand = greenlight_tests::samples().join("workspaces/rival");
    run(&[
        "workspace",
        "create",
        "--id",
        "beans",
        "--name",
        "Beans",
        "--spend-cap-usd",
        "1000",
        "--brand-dir",
        brand.to_str().unwrap(),
    ]);
    run(&[
        "member",
        "add",
        "--workspace",
        "beans",
        "--id",
        "bo",
        "--name",
        "Bo",
    ]);
    let token = run(&["token", "issue", "--workspace", "beans", "--member", "bo"]);
    let (member, dev) = rt
        .block_on(store.member_by_token(&greenlight_core::service::token_hash(&token)))
        .unwrap()
        .expect("the token's hash is in the table");
    assert_eq!(member.id.as_str(), "bo");
    assert!(!dev, "admin tokens are not dev-only");
    let ws = rt
        .block_on(store.get_workspace(&greenlight_core::ids::WorkspaceId::parse("beans").unwrap()))
        .unwrap()
        .unwrap();
    assert_eq!(
        ws.spend_cap,
        greenlight_core::money::Money::from_usd(1000.0).unwrap()
    );
}

#[test]
fn admin_opts_a_gate_in_to_auto_approve_and_refuses_what_is_not_a_gate() {
    let (_dir, store) = sqlite_store();
    let (ok, _, err) = create_workspace(&store, "acme", "Acme", "1000", "demo");
    assert!(ok, "{err}");
    let opt = |extra: &[&str]| {
        let mut args = vec![
            "auto-approve",
            "--workspace",
            "acme",
            "--workflow",
            "campaign-launch",
        ];
        args.extend_from_slice(extra);
        admin(&store, &args)
    };
    let (ok, out, err) = opt(&["--gate", "publish_gate", "--threshold", "0.95"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("auto-approve on for campaign-launch / publish_gate"),
        "{out}"
    );
    // What is not an approval gate, or a threshold out of range, is refused by name.
    let (ok, _, err) = opt(&["--gate", "post", "--threshold", "0.95"]);
    assert!(!ok);
    assert!(
        err.contains("`post` is not an approval gate of campaign-launch"),
        "{err}"
    );
    let (ok, _, err) = opt(&["--gate", "ad_spend_gate", "--threshold", "0.3", "--spend"]);
    assert!(!ok);
    assert!(err.contains("threshold") && err.contains("0.3"), "{err}");
    // A gate whose proposals commit spend, opted in without --spend, would
    // never act: refused, saying what to add; with --spend it is on.
    let (ok, _, err) = opt(&["--gate", "ad_spend_gate", "--threshold", "0.9"]);
    assert!(!ok);
    assert!(
        err.contains("commit spend") && err.contains("add --spend"),
        "{err}"
    );
    let (ok, out, err) = opt(&["--gate", "ad_spend_gate", "--threshold", "0.9", "--spend"]);
    assert!(ok, "{err}");
    assert!(out.contains("proposals with spend included"), "{out}");
    // A gate that needs a role for every proposal: auto-approve never acts there.
    let fixture =
        std::fs::read_to_string(greenlight_tests::repo().join("tests/fixtures/recipes/soft-launch.yaml"))
            .unwrap();
    let roled = fixture.replace(
        "target_output_field: variants}",
        "target_output_field: variants, policy: {required_role: brand-lead}}",
    );
    assert_ne!(roled, fixture, "the fixture's gate was given a policy");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("soft-launch.yaml");
    std::fs::write(&path, roled).unwrap();
    let (ok, _, err) = admin(
        &store,
        &[
            "auto-approve",
            "--workspace",
            "acme",
            "--workflow",
            "soft-launch",
            "--gate",
            "listings_gate",
            "--threshold",
            "0.9",
            "--recipe",
            path.to_str().unwrap(),
        ],
    );
    assert!(!ok);
    assert!(
        err.contains("brand-lead role for every proposal") && err.contains("never acts"),
        "{err}"
    );
    // A custom recipe's gate, named with its file.
    let custom = greenlight_tests::repo().join("tests/fixtures/recipes/soft-launch.yaml");
    let (workflow, gate) = ("soft-launch".to_string(), "listings_gate".to_string());
    let args = [
        "auto-approve",
        "--workspace",
        "acme",
        "--workflow",
        &workflow,
        "--gate",
        &gate,
        "--threshold",
        "0.9",
    ];
    let (ok, _, err) = admin(&store, &args);
    assert!(!ok, "unknown without its file");
    assert!(err.contains(&format!("no workflow `{workflow}`")), "{err}");
    let mut with_file = args.to_vec();
    let path = custom.to_str().unwrap().to_string();
    with_file.extend_from_slice(&["--recipe", &path]);
    let (ok, out, err) = admin(&store, &with_file);
    assert!(ok, "{err}");
    assert!(
        out.contains(&format!("auto-approve on for {workflow} / {gate}")),
        "{out}"
    );
    // Off again.
    let (ok, out, err) = opt(&["--gate", "publish_gate", "--off"]);
    assert!(ok, "{err}");
    assert!(out.contains("auto-approve off"), "{out}");
}

/// Only creating a workspace may start a store: anything else on a
/// mistyped path says so and leaves no empty database behind; a data
/// directory given for its store names the file.
#[test]
fn a_mistyped_store_path_is_an_error_that_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let typo = dir.path().join("greenlite.sqlite3");
    let store = format!("sqlite:{}", typo.display());
    for args in [
        vec![
            "member",
            "add",
            "--workspace",
            "demo",
            "--id",
            "ann",
            "--name",
            "Ann",
        ],
        vec!["token", "revoke", "--token", "glt_not_a_real_token"],
    ] {
        let (ok, _, err) = admin(&store, &args);
        assert!(!ok, "{args:?}");
        assert!(err.contains("no store at"), "{err}");
    }
    let out = greenlight()
        .args(["approver", "eval", "--store", &store, "--workspace", "demo"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no store at"));
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "files were left behind"
    );
    let (ok, _, err) = admin(
        &format!("sqlite:{}", dir.path().display()),
        &["token", "revoke", "--token", "glt_x"],
    );
    assert!(!ok);
    assert!(
        err.contains("is a directory; the store is the file in it"),
        "{err}"
    );
    // Nor do arguments that could not make a workspace.
    for (name, cap, says) in [
        (" ", "1000", "--name must not be blank"),
        ("Acme", "1e20", "dollars and cents from 0 to 1000000000"),
        ("Acme", "0.001", "dollars and cents"),
        ("Acme", "8999999999.03", "dollars and cents"),
    ] {
        let (ok, _, err) = create_workspace(&store, "acme", name, cap, "demo");
        assert!(!ok, "{name:?} {cap}");
        assert!(err.contains(says), "{err}");
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "files were left behind"
    );
    // Creating a workspace starts a store where there was none.
    let (ok, out, err) = create_workspace(&store, "acme", "Acme", "1234.56", "demo");
    assert!(ok, "{err}");
    assert!(out.contains("spend cap $1,234.56/month"), "{out}");
    assert!(typo.exists());
    // A member needs a name, and roles as gate policies name them.
    for (name, role, says) in [
        ("", "member", "--name must not be blank"),
        ("Ann", "Ops Lead!!", "hyphens"),
        ("Ann", "", "hyphens"),
    ] {
        let (ok, _, err) = add_member(&store, name, role);
        assert!(!ok, "{name:?} {role:?}");
        assert!(err.contains(says), "{err}");
    }
}
