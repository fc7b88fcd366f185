//! The sandbox through real loopback HTTP: each test starts its own [`Sandbox`]
//! (its own ports, tokens and log) with its env file in a temp directory.

use std::os::unix::fs::PermissionsExt as _;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;

use super::platform::dotenv_value;
use super::{Sandbox, SandboxConfig, Service, post_restart};

struct Fixture {
    // Field order matters: the sandbox stops before its env file's directory goes.
    sandbox: Sandbox,
    _dir: tempfile::TempDir,
    client: reqwest::Client,
}

fn start(configure: impl FnOnce(&mut SandboxConfig)) -> Fixture {
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut config = SandboxConfig {
        env_file: dir.path().join(".env.auth"),
        restart_delay: Duration::from_millis(300),
        ..SandboxConfig::default()
    };
    configure(&mut config);
    let sandbox = Sandbox::start(config).expect("the sandbox starts");
    Fixture {
        sandbox,
        _dir: dir,
        client: reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("a client"),
    }
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    json: Value,
}

impl Fixture {
    async fn send(&self, method: reqwest::Method, url: &str, bearer: Option<&str>) -> Answer {
        let mut request = self.client.request(method, url);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        self.answer(request).await
    }

    async fn answer(&self, request: reqwest::RequestBuilder) -> Answer {
        let response = request.send().await.expect("the sandbox answers");
        let status = response.status();
        let headers = response.headers().clone();
        let json = response.json().await.expect("every answer is JSON");
        Answer {
            status,
            headers,
            json,
        }
    }

    async fn api(&self, path: &str, bearer: Option<&str>) -> Answer {
        let url = format!("{}{path}", self.sandbox.api_url());
        self.send(reqwest::Method::GET, &url, bearer).await
    }

    async fn platform(&self, path: &str) -> Answer {
        let url = format!("{}{path}", self.sandbox.platform_url());
        self.send(reqwest::Method::GET, &url, None).await
    }

    async fn restart(&self) {
        let answer = self
            .send(reqwest::Method::POST, &self.sandbox.restart_url(), None)
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
    }

    async fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.platform("/health").await.status != StatusCode::OK {
            assert!(
                Instant::now() < deadline,
                "the platform never became healthy"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    fn set_env_token(&self, token: &str) {
        let path = self.sandbox.env_file();
        let text = std::fs::read_to_string(path).expect("read the env file");
        let text: String = text
            .lines()
            .map(|line| {
                if line.starts_with("CLOUDFLARE_API_TOKEN=") {
                    format!("CLOUDFLARE_API_TOKEN={token}\n")
                } else {
                    format!("{line}\n")
                }
            })
            .collect();
        std::fs::write(path, text).expect("write the env file");
    }
}

/// The first error code and message of a failure envelope.
fn error(json: &Value) -> (i64, String) {
    assert_eq!(json["success"], false, "{json}");
    assert_eq!(json["result"], Value::Null, "{json}");
    (
        json["errors"][0]["code"].as_i64().unwrap_or_default(),
        json["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

#[test]
fn seeded_tokens_look_like_cloudflare_tokens() {
    let fixture = start(|_| {});
    let tokens = fixture.sandbox.tokens();
    let ids = fixture.sandbox.token_ids();
    assert!(tokens.old.ends_with("egC_"), "{}", tokens.old);
    let values = [
        &tokens.old,
        &tokens.new,
        &tokens.limited,
        &tokens.disabled,
        &tokens.expired,
    ];
    let ids = [
        &ids.old,
        &ids.new,
        &ids.limited,
        &ids.disabled,
        &ids.expired,
    ];
    for value in values {
        assert!(value.starts_with("cfut_"), "{value}");
    }
    for id in ids {
        assert_eq!(id.len(), 32, "{id}");
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
            "{id}"
        );
    }
    let mut last4s: Vec<String> = values.iter().map(|v| crate::template::last4(v)).collect();
    last4s.sort();
    last4s.dedup();
    assert_eq!(
        last4s.len(),
        values.len(),
        "every token is told apart by its last 4"
    );
}

#[tokio::test]
async fn verify_reports_each_seeded_token() {
    let fixture = start(|_| {});
    let tokens = fixture.sandbox.tokens();
    let ids = fixture.sandbox.token_ids();
    for (token, id, status) in [
        (&tokens.old, &ids.old, "active"),
        (&tokens.new, &ids.new, "active"),
        (&tokens.limited, &ids.limited, "active"),
        (&tokens.disabled, &ids.disabled, "disabled"),
        (&tokens.expired, &ids.expired, "expired"),
    ] {
        let answer = fixture.api("/user/tokens/verify", Some(token)).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
        assert_eq!(answer.json["success"], true);
        assert_eq!(answer.json["errors"], serde_json::json!([]));
        assert_eq!(answer.json["result"]["id"], id.as_str());
        assert_eq!(answer.json["result"]["status"], status);
    }
    let active = fixture.api("/user/tokens/verify", Some(&tokens.new)).await;
    assert_eq!(active.json["messages"][0]["code"], 10000);
    assert_eq!(
        active.json["messages"][0]["message"],
        "This API Token is valid and active"
    );
    let expired = fixture
        .api("/user/tokens/verify", Some(&tokens.expired))
        .await;
    assert!(expired.json["result"]["expires_on"].is_string());
}

#[tokio::test]
async fn unknown_missing_and_malformed_credentials() {
    let fixture = start(|_| {});
    let unknown = fixture
        .api(
            "/user/tokens/verify",
            Some("cfut_notarealtoken0000000000000000000000"),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert_eq!(error(&unknown.json), (1000, "Invalid API Token".to_owned()));

    let missing = fixture.api("/user/tokens/verify", None).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(error(&missing.json).0, 9106);

    for header in [
        "Bearer two words",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "cfut_noscheme",
    ] {
        let url = format!("{}/user/tokens/verify", fixture.sandbox.api_url());
        let answer = fixture
            .answer(fixture.client.get(&url).header("Authorization", header))
            .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{header:?}");
        assert_eq!(error(&answer.json).0, 6003, "{header:?}");
        assert_eq!(answer.json["errors"][0]["error_chain"][0]["code"], 6111);
        assert_eq!(
            answer.json["errors"][0]["error_chain"][0]["message"],
            "Invalid format for Authorization header"
        );
    }
}

#[tokio::test]
async fn disabled_and_expired_tokens_only_verify() {
    let fixture = start(|_| {});
    let tokens = fixture.sandbox.tokens();
    for token in [&tokens.disabled, &tokens.expired] {
        let answer = fixture.api("/zones", Some(token)).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        assert_eq!(error(&answer.json).0, 1000);
    }
}

#[tokio::test]
async fn zones_are_paged_like_cloudflare() {
    let fixture = start(|_| {});
    let token = fixture.sandbox.tokens().new;
    let all = fixture.api("/zones", Some(&token)).await;
    assert_eq!(all.status, StatusCode::OK);
    assert_eq!(
        all.json["result_info"],
        serde_json::json!({"page": 1, "per_page": 20, "count": 7, "total_count": 7, "total_pages": 1})
    );
    let ids: Vec<&str> = all.json["result"]
        .as_array()
        .expect("a list of zones")
        .iter()
        .filter_map(|zone| zone["id"].as_str())
        .collect();
    assert_eq!(ids.len(), 7);

    let first = fixture.api("/zones?per_page=5", Some(&token)).await;
    assert_eq!(
        first.json["result_info"],
        serde_json::json!({"page": 1, "per_page": 5, "count": 5, "total_count": 7, "total_pages": 2})
    );
    let second = fixture.api("/zones?page=2&per_page=5", Some(&token)).await;
    assert_eq!(
        second.json["result_info"],
        serde_json::json!({"page": 2, "per_page": 5, "count": 2, "total_count": 7, "total_pages": 2})
    );
    let paged: Vec<&str> = [&first, &second]
        .iter()
        .flat_map(|page| page.json["result"].as_array().into_iter().flatten())
        .filter_map(|zone| zone["id"].as_str())
        .collect();
    assert_eq!(
        paged, ids,
        "the pages together are the whole list, in order"
    );
    let beyond = fixture.api("/zones?page=3&per_page=5", Some(&token)).await;
    assert_eq!(beyond.status, StatusCode::OK);
    assert_eq!(beyond.json["result"], serde_json::json!([]));
    assert_eq!(beyond.json["result_info"]["count"], 0);

    let named = fixture.api("/zones?name=example.org", Some(&token)).await;
    assert_eq!(named.json["result"][0]["name"], "example.org");
    assert_eq!(named.json["result_info"]["total_count"], 1);

    for bad in [
        "per_page=4",
        "per_page=51",
        "per_page=ten",
        "page=0",
        "page=-1",
    ] {
        let answer = fixture.api(&format!("/zones?{bad}"), Some(&token)).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(error(&answer.json).0, 1004, "{bad}");
    }
}

#[tokio::test]
async fn dns_records_need_a_dns_permission() {
    let fixture = start(|_| {});
    let tokens = fixture.sandbox.tokens();
    let zones = fixture.api("/zones", Some(&tokens.limited)).await;
    assert_eq!(zones.status, StatusCode::OK, "Zone:Read lists zones");
    let zone = zones.json["result"][0]["id"]
        .as_str()
        .expect("a zone id")
        .to_owned();
    let path = format!("/zones/{zone}/dns_records");

    let refused = fixture.api(&path, Some(&tokens.limited)).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(
        error(&refused.json),
        (9109, "Unauthorized to access requested resource".to_owned())
    );

    for token in [&tokens.new, &tokens.old] {
        let records = fixture.api(&path, Some(token)).await;
        assert_eq!(records.status, StatusCode::OK, "{}", records.json);
        assert_eq!(records.json["success"], true);
        assert!(
            records.json["result"]
                .as_array()
                .is_some_and(|r| !r.is_empty())
        );
        assert_eq!(records.json["result"][0]["zone_id"], zone.as_str());
        assert_eq!(records.json["result_info"]["per_page"], 100);
    }

    let unknown = fixture
        .api(
            "/zones/ffffffffffffffffffffffffffffffff/dns_records",
            Some(&tokens.new),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(error(&unknown.json).0, 7003);
}

#[tokio::test]
async fn a_revoked_token_is_dead_at_once() {
    let fixture = start(|_| {});
    let tokens = fixture.sandbox.tokens();
    let ids = fixture.sandbox.token_ids();
    let url = |id: &str| format!("{}/user/tokens/{id}", fixture.sandbox.api_url());

    let listed = fixture.api("/user/tokens", Some(&tokens.old)).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.json);
    assert_eq!(listed.json["result_info"]["total_count"], 5);
    let details = fixture
        .api(&format!("/user/tokens/{}", ids.new), Some(&tokens.old))
        .await;
    assert_eq!(details.json["result"]["name"], "ops-center (Edit zone DNS)");
    let names: Vec<&str> = details.json["result"]["policies"][0]["permission_groups"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|group| group["name"].as_str())
        .collect();
    assert_eq!(names, ["DNS Write", "Zone Read", "Zone Settings Read"]);

    // The new token may neither read token details nor delete another token.
    let peek = fixture
        .api(&format!("/user/tokens/{}", ids.old), Some(&tokens.new))
        .await;
    assert_eq!(peek.status, StatusCode::FORBIDDEN);
    let refused = fixture
        .send(reqwest::Method::DELETE, &url(&ids.old), Some(&tokens.new))
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(error(&refused.json).0, 9109);

    // The old token revokes itself, as the rotation runbook does.
    let deleted = fixture
        .send(reqwest::Method::DELETE, &url(&ids.old), Some(&tokens.old))
        .await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.json);
    assert_eq!(deleted.json["success"], true);
    assert_eq!(deleted.json["result"]["id"], ids.old.as_str());

    let dead = fixture.api("/user/tokens/verify", Some(&tokens.old)).await;
    assert_eq!(dead.status, StatusCode::UNAUTHORIZED);
    assert_eq!(error(&dead.json), (1000, "Invalid API Token".to_owned()));
    let alive = fixture.api("/user/tokens/verify", Some(&tokens.new)).await;
    assert_eq!(alive.json["result"]["status"], "active");

    // Without API Tokens: Edit, permission is checked before existence: 403, not 404.
    let again = fixture
        .send(reqwest::Method::DELETE, &url(&ids.old), Some(&tokens.new))
        .await;
    assert_eq!(again.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn an_old_token_made_from_the_dns_template_may_not_delete_itself() {
    let fixture = start(|config| config.old_token_may_not_revoke = true);
    let tokens = fixture.sandbox.tokens();
    let ids = fixture.sandbox.token_ids();
    let url = format!("{}/user/tokens/{}", fixture.sandbox.api_url(), ids.old);
    let refused = fixture
        .send(reqwest::Method::DELETE, &url, Some(&tokens.old))
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.json);
    assert_eq!(error(&refused.json).0, 9109);
    // Still alive, and still good for DNS: only the revoke is refused.
    let alive = fixture.api("/user/tokens/verify", Some(&tokens.old)).await;
    assert_eq!(alive.json["result"]["status"], "active");
    let zones = fixture.api("/zones", Some(&tokens.old)).await;
    assert_eq!(zones.status, StatusCode::OK);
}

#[tokio::test]
async fn deleting_an_unknown_id_is_404() {
    let fixture = start(|_| {});
    let tokens = fixture.sandbox.tokens();
    let url = format!(
        "{}/user/tokens/00000000000000000000000000000000",
        fixture.sandbox.api_url()
    );
    let answer = fixture
        .send(reqwest::Method::DELETE, &url, Some(&tokens.old))
        .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(error(&answer.json).0, 7003);
}

#[tokio::test]
async fn unknown_routes_and_methods_get_envelopes() {
    let fixture = start(|_| {});
    let token = fixture.sandbox.tokens().new;
    let nowhere = fixture.api("/accounts", Some(&token)).await;
    assert_eq!(nowhere.status, StatusCode::NOT_FOUND);
    assert_eq!(error(&nowhere.json).0, 7000);
    let outside = fixture
        .send(
            reqwest::Method::GET,
            &format!("{}/elsewhere", fixture.sandbox.platform_url()),
            None,
        )
        .await;
    assert_eq!(outside.status, StatusCode::NOT_FOUND);
    let wrong = fixture
        .send(
            reqwest::Method::POST,
            &format!("{}/zones", fixture.sandbox.api_url()),
            Some(&token),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(error(&wrong.json).0, 7001);
}

#[tokio::test]
async fn over_the_budget_is_429_with_retry_after() {
    let fixture = start(|config| {
        config.request_budget = Some(3);
        config.retry_after_secs = 1;
    });
    let tokens = fixture.sandbox.tokens();
    for _ in 0..3 {
        let answer = fixture.api("/zones", Some(&tokens.new)).await;
        assert_eq!(answer.status, StatusCode::OK);
    }
    let limited = fixture.api("/zones", Some(&tokens.new)).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        limited
            .headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    assert_eq!(error(&limited.json).0, 10000);

    // The budget is per token.
    let other = fixture.api("/zones", Some(&tokens.old)).await;
    assert_eq!(other.status, StatusCode::OK);

    // Waiting as told refills it.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let again = fixture.api("/zones", Some(&tokens.new)).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.json);
}

#[tokio::test]
async fn latency_delays_every_api_answer() {
    let fixture = start(|config| config.latency = Duration::from_millis(150));
    let started = Instant::now();
    let answer = fixture
        .api("/user/tokens/verify", Some(&fixture.sandbox.tokens().new))
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn the_platform_uses_the_token_it_loaded() {
    let fixture = start(|_| {});
    let tokens = fixture.sandbox.tokens();
    let ids = fixture.sandbox.token_ids();

    let health = fixture.platform("/health").await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.json, serde_json::json!({"status": "ok"}));
    let zones = fixture.platform("/api/cloudflare/zones").await;
    assert_eq!(zones.status, StatusCode::OK, "{}", zones.json);
    assert_eq!(zones.json["success"], true);
    assert_eq!(zones.json["result"].as_array().map(Vec::len), Some(7));
    let upstream = fixture
        .sandbox
        .requests()
        .into_iter()
        .find(|r| r.service == Service::Api && r.path.starts_with("/client/v4/zones"))
        .expect("the platform called the API");
    assert_eq!(
        upstream.token_last4.as_deref(),
        Some(crate::template::last4(&tokens.old).as_str())
    );

    // A changed file means nothing until the service restarts.
    fixture.set_env_token("cfut_sbxNotAValidTokenAtAll0000000000000000");
    let still = fixture.platform("/api/cloudflare/zones").await;
    assert_eq!(still.status, StatusCode::OK, "{}", still.json);

    fixture.restart().await;
    let down = fixture.platform("/health").await;
    assert_eq!(down.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(down.json["status"], "restarting");
    let busy = fixture.platform("/api/cloudflare/zones").await;
    assert_eq!(busy.status, StatusCode::SERVICE_UNAVAILABLE);
    fixture.wait_healthy().await;

    let broken = fixture.platform("/api/cloudflare/zones").await;
    assert_eq!(broken.status, StatusCode::BAD_GATEWAY, "{}", broken.json);
    assert_eq!(broken.json["success"], false);
    assert_eq!(broken.json["message"], "Failed to load zones");
    assert_eq!(broken.json["errors"][0]["code"], 1000);

    // Restarted with the new token, it says which token it uses.
    fixture.set_env_token(&tokens.new);
    fixture.restart().await;
    fixture.wait_healthy().await;
    let zones = fixture.platform("/api/cloudflare/zones").await;
    assert_eq!(zones.status, StatusCode::OK, "{}", zones.json);
    let verified = fixture.platform("/api/cloudflare/token/verify").await;
    assert_eq!(verified.json["result"]["id"], ids.new.as_str());
}

#[tokio::test]
async fn the_platform_answers_502_for_a_refused_token() {
    let fixture = start(|_| {});
    fixture.set_env_token(&fixture.sandbox.tokens().disabled);
    fixture.restart().await;
    fixture.wait_healthy().await;
    let answer = fixture.platform("/api/cloudflare/zones").await;
    assert_eq!(answer.status, StatusCode::BAD_GATEWAY);
    assert_eq!(answer.json["message"], "Failed to load zones");
}

#[tokio::test]
async fn keep_old_token_on_restart_ignores_the_file() {
    let fixture = start(|config| config.keep_old_token_on_restart = true);
    let tokens = fixture.sandbox.tokens();
    let ids = fixture.sandbox.token_ids();
    fixture.set_env_token(&tokens.new);
    fixture.restart().await;
    assert_eq!(
        fixture.platform("/health").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    fixture.wait_healthy().await;
    let zones = fixture.platform("/api/cloudflare/zones").await;
    assert_eq!(zones.status, StatusCode::OK);
    let verified = fixture.platform("/api/cloudflare/token/verify").await;
    assert_eq!(verified.json["result"]["id"], ids.old.as_str());
}

#[tokio::test]
async fn post_restart_restarts_by_either_url() {
    let fixture = start(|_| {});
    for url in [
        fixture.sandbox.restart_url(),
        fixture.sandbox.platform_url(),
    ] {
        let posted = tokio::task::spawn_blocking(move || post_restart(&url))
            .await
            .expect("the blocking task ran");
        assert!(posted.is_ok(), "{posted:?}");
        assert_eq!(
            fixture.platform("/health").await.status,
            StatusCode::SERVICE_UNAVAILABLE
        );
        fixture.wait_healthy().await;
    }
    let wrong = format!("{}/health", fixture.sandbox.platform_url());
    let refused = tokio::task::spawn_blocking(move || post_restart(&wrong))
        .await
        .expect("the blocking task ran");
    assert!(refused.is_err(), "POST /health is not a restart");
    assert!(post_restart("https://127.0.0.1:1/").is_err());
    assert!(post_restart("not a url").is_err());
}

#[tokio::test]
async fn the_request_log_never_holds_a_whole_token() {
    let fixture = start(|_| {});
    let tokens = fixture.sandbox.tokens();
    let values = [
        &tokens.old,
        &tokens.new,
        &tokens.limited,
        &tokens.disabled,
        &tokens.expired,
    ];
    for token in values {
        fixture.api("/user/tokens/verify", Some(token)).await;
        fixture.api("/zones", Some(token)).await;
    }
    let url = format!("{}/user/tokens/verify", fixture.sandbox.api_url());
    fixture
        .answer(
            fixture
                .client
                .get(&url)
                .header("Authorization", format!("Bearer {} x", tokens.new)),
        )
        .await;
    fixture.platform("/api/cloudflare/zones").await;

    let served = fixture
        .client
        .get(fixture.sandbox.requests_url())
        .send()
        .await
        .expect("the log is served");
    let text = served.text().await.expect("a body");
    let entries: Vec<Value> = serde_json::from_str(&text).expect("a JSON array");
    assert_eq!(entries.len(), fixture.sandbox.requests().len());
    assert_eq!(entries.len(), 13, "the log itself is not logged: {text}");
    for token in values {
        assert!(
            !text.contains(token.as_str()),
            "a whole token in the log: {text}"
        );
        assert!(text.contains(&format!("\"{}\"", crate::template::last4(token))));
    }
    let first = &entries[0];
    assert_eq!(first["seq"], 0);
    assert_eq!(first["service"], "api");
    assert_eq!(first["method"], "GET");
    assert_eq!(first["path"], "/client/v4/user/tokens/verify");
    assert_eq!(first["status"], 200);
    assert!(first["at_ms"].is_u64() && first["elapsed_ms"].is_u64());
}

#[test]
fn start_writes_a_missing_env_file_privately_and_keeps_an_existing_one() {
    let fixture = start(|_| {});
    let path = fixture.sandbox.env_file().to_owned();
    let mode = std::fs::metadata(&path)
        .expect("the env file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let text = std::fs::read_to_string(&path).expect("read it");
    assert_eq!(
        dotenv_value(&text, "CLOUDFLARE_API_TOKEN"),
        Some(fixture.sandbox.tokens().old)
    );

    let dir = tempfile::tempdir().expect("a temp dir");
    let existing = dir.path().join("platform.env");
    std::fs::write(&existing, "CLOUDFLARE_API_TOKEN=mine\n").expect("write");
    let other = Sandbox::start(SandboxConfig {
        env_file: existing.clone(),
        ..SandboxConfig::default()
    })
    .expect("starts");
    drop(other);
    assert_eq!(
        std::fs::read_to_string(&existing).expect("read"),
        "CLOUDFLARE_API_TOKEN=mine\n"
    );
}

#[test]
fn dotenv_values_are_read_like_a_shell_would() {
    let text = "# CLOUDFLARE_API_TOKEN=commented\n\
                OTHER=1\n\
                export CLOUDFLARE_API_TOKEN=first\n\
                CLOUDFLARE_API_TOKEN = \"quoted # not a comment\"\n";
    assert_eq!(
        dotenv_value(text, "CLOUDFLARE_API_TOKEN").as_deref(),
        Some("quoted # not a comment")
    );
    assert_eq!(dotenv_value("K='single'\n", "K").as_deref(), Some("single"));
    assert_eq!(
        dotenv_value("K=bare # note\n", "K").as_deref(),
        Some("bare")
    );
    assert_eq!(dotenv_value("K=\"a\\\"b\"\n", "K").as_deref(), Some("a\"b"));
    assert_eq!(dotenv_value("export K=v\r\n", "K").as_deref(), Some("v"));
    assert_eq!(dotenv_value("KEY=v\n", "K"), None);
}
