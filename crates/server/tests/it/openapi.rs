//! `openapi.yaml` at the repository root is what the code generates. Regenerate with
//! `UPDATE_OPENAPI=1 cargo test -p pulsekey-server --test it openapi` (or `pulsekey openapi`).

use std::path::PathBuf;

fn snapshot_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../openapi.yaml")
}

#[test]
fn checked_in_openapi_yaml_matches_the_code() {
    let generated = pulsekey_server::http::openapi::yaml().expect("the document renders");
    assert!(
        generated.contains("/healthz"),
        "the generator produced no paths"
    );
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(snapshot_path(), &generated).unwrap();
        return;
    }
    let checked_in = std::fs::read_to_string(snapshot_path()).unwrap_or_default();
    assert!(
        checked_in == generated,
        "openapi.yaml is stale: run `UPDATE_OPENAPI=1 cargo test -p pulsekey-server --test it openapi` and commit it"
    );
}

both_backends! {
    async fn the_served_document_is_the_generated_one(app) {
        let served: serde_json::Value =
            app.client.get(app.at("/api-docs/openapi.json")).send().await.unwrap().json().await.unwrap();
        let generated = serde_json::to_value(pulsekey_server::http::openapi::document()).unwrap();
        assert_eq!(served, generated);
        let ui = app.client.get(app.at("/api-docs/")).send().await.unwrap();
        assert_eq!(ui.status(), 200);
        assert!(ui.text().await.unwrap().contains("swagger"));
    }
}

#[test]
fn examples_show_only_masked_keys() {
    let yaml = pulsekey_server::http::openapi::yaml().expect("the document renders");
    assert!(
        yaml.contains("pk_•••••…•Ab3f"),
        "the examples should show the masked form"
    );
    for (at, _) in yaml.match_indices("pk_") {
        let run = yaml[at + 3..]
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .count();
        assert!(
            run < 20,
            "something shaped like a plaintext key at byte {at}"
        );
    }
}

/// A `$ref` to a schema the document does not define breaks every client generator that
/// reads it (and hid three query enums once).
#[test]
fn every_schema_it_refers_to_is_defined() {
    let document = serde_json::to_value(pulsekey_server::http::openapi::document()).unwrap();
    let defined = document["components"]["schemas"]
        .as_object()
        .expect("components.schemas");
    let mut missing = Vec::new();
    let mut stack = vec![&document];
    while let Some(value) = stack.pop() {
        match value {
            serde_json::Value::Object(map) => {
                if let Some(serde_json::Value::String(target)) = map.get("$ref")
                    && let Some(name) = target.strip_prefix("#/components/schemas/")
                    && !defined.contains_key(name)
                {
                    missing.push(name.to_owned());
                }
                stack.extend(map.values());
            }
            serde_json::Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    assert!(missing.is_empty(), "undefined schemas: {missing:?}");
}
