//! The simulated Cloudflare API v4: the handful of operations the token rotation
//! touches, answered in Cloudflare's envelope with Cloudflare's status and error
//! codes (see `../shared/reference/`), from the seeded world in [`super::seed`].
//!
//! What it must get right is what a runbook's gates decide on: which token is
//! valid (401 code 1000 otherwise), which may do what (403 code 9109), what a
//! malformed header gets (400 code 6003 with 6111), that a revoked token is dead
//! at once, paging, and `429` with `Retry-After` past a request budget. Every bad
//! request still gets an envelope, never a bare text error or a dropped connection.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::log::{Pending, RequestLog, Service};
use super::seed::{self, Permission, Record, Status, Token, Zone};

/// Where the API is mounted, like the real `https://api.cloudflare.com/client/v4`.
pub const BASE_PATH: &str = "/client/v4";

/// Where the server serves its request log (outside the API, and not logged).
pub const REQUESTS_PATH: &str = "/__sandbox/requests";

/// How the API misbehaves on purpose.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Added before answering each API request.
    pub latency: Duration,
    /// Requests each token may make before it gets `429`; `None` for no limit.
    pub request_budget: Option<u32>,
    /// The `Retry-After` of a `429`, and how long until the budget is refilled.
    pub retry_after: Duration,
    /// The old token holds only the "Edit zone DNS" template's permissions.
    pub old_token_may_not_revoke: bool,
    /// The old token is gone before anything starts (answers 401).
    pub old_token_revoked: bool,
}

/// The API's router, logging into `log`.
pub fn router(config: ApiConfig, log: RequestLog) -> Router {
    let mut tokens = seed::tokens();
    if config.old_token_may_not_revoke {
        for token in tokens.iter_mut().filter(|t| t.role == seed::Role::Old) {
            token.permissions = seed::EDIT_ZONE_DNS;
        }
    }
    if config.old_token_revoked {
        tokens.retain(|t| t.role != seed::Role::Old);
    }
    let state = Arc::new(ApiState {
        config,
        log,
        tokens: Mutex::new(tokens),
        zones: seed::zones(),
        spent: Mutex::new(HashMap::new()),
    });
    let api = Router::new()
        .route("/user/tokens/verify", get(verify))
        .route("/user/tokens", get(list_tokens))
        .route(
            "/user/tokens/{token_id}",
            get(token_details).delete(delete_token),
        )
        .route("/zones", get(list_zones))
        .route("/zones/{zone_id}/dns_records", get(list_dns_records))
        .method_not_allowed_fallback(method_not_allowed);
    Router::new()
        .nest(BASE_PATH, api)
        .route(REQUESTS_PATH, get(requests))
        .fallback(no_route)
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            gatekeeper,
        ))
        .with_state(state)
}

struct ApiState {
    config: ApiConfig,
    log: RequestLog,
    /// The account's tokens; deleting one removes it, which is what makes it
    /// answer 401 afterwards.
    tokens: Mutex<Vec<Token>>,
    zones: Vec<(Zone, Vec<Record>)>,
    /// Requests spent per credential since its budget was last refilled.
    spent: Mutex<HashMap<String, Spent>>,
}

#[derive(Debug, Default)]
struct Spent {
    used: u32,
    /// Set by the first refused request: the budget is whole again from then.
    refill_at: Option<Instant>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section here leaves the data consistent, so a poisoned lock
    // still holds usable data and the server keeps answering.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Logs every request, adds the configured latency and enforces the budget.
async fn gatekeeper(State(state): State<Arc<ApiState>>, request: Request, next: Next) -> Response {
    let path = request.uri().path_and_query().map_or_else(
        || request.uri().path().to_owned(),
        |p| p.as_str().to_owned(),
    );
    if request.uri().path() == REQUESTS_PATH {
        return next.run(request).await;
    }
    let pending = Pending::new(
        Service::Api,
        request.method().as_str(),
        &path,
        request.headers(),
    );
    if !state.config.latency.is_zero() {
        tokio::time::sleep(state.config.latency).await;
    }
    let response = match state.spend(request.headers()) {
        Ok(()) => next.run(request).await,
        Err(refused) => refused.into_response(),
    };
    state.log.finish(pending, response.status().as_u16());
    response
}

impl ApiState {
    /// Counts one request against its credential's budget.
    fn spend(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let Some(budget) = self.config.request_budget else {
            return Ok(());
        };
        let Some(key) = headers
            .get(header::AUTHORIZATION)
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
        else {
            return Ok(());
        };
        let mut spent = lock(&self.spent);
        let entry = spent.entry(key).or_default();
        let now = Instant::now();
        if entry.refill_at.is_some_and(|at| now >= at) {
            *entry = Spent::default();
        }
        if entry.used < budget {
            entry.used += 1;
            return Ok(());
        }
        let refill_at = *entry.refill_at.get_or_insert(now + self.config.retry_after);
        let wait = refill_at.saturating_duration_since(now);
        // Round up: a client that waits exactly `Retry-After` must find the budget refilled.
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        Err(ApiError::rate_limited(seconds))
    }

    /// The token the request presents, whatever its status: what verify needs.
    fn presented(&self, headers: &HeaderMap) -> Result<Token, ApiError> {
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return Err(ApiError::missing_credentials());
        };
        let credential = bearer_credential(value).ok_or_else(ApiError::malformed_authorization)?;
        lock(&self.tokens)
            .iter()
            .find(|token| token.value == credential)
            .cloned()
            .ok_or_else(ApiError::invalid_token)
    }

    /// The token the request presents, which must be active and hold one of `any_of`.
    fn authorize(&self, headers: &HeaderMap, any_of: &[Permission]) -> Result<Token, ApiError> {
        let token = self.presented(headers)?;
        if token.status != Status::Active {
            return Err(ApiError::invalid_token());
        }
        if any_of.iter().any(|&permission| token.may(permission)) {
            Ok(token)
        } else {
            Err(ApiError::unauthorized())
        }
    }
}

/// The credential of a well-formed `Authorization: Bearer TOKEN` header: one
/// scheme, one space, then visible ASCII with no spaces. Anything else is what
/// Cloudflare answers with 6003/6111 — typically a token pasted with a line
/// break or a space in it.
fn bearer_credential(value: &HeaderValue) -> Option<&str> {
    let value = value.to_str().ok()?;
    let (scheme, credential) = value.split_once(' ')?;
    let well_formed = scheme.eq_ignore_ascii_case("bearer")
        && !credential.is_empty()
        && credential.bytes().all(|b| b.is_ascii_graphic());
    well_formed.then_some(credential)
}

/// A failure, rendered as Cloudflare's envelope with `success: false`.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    errors: Vec<Value>,
    retry_after: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, code: u32, message: &str) -> ApiError {
        ApiError {
            status,
            errors: vec![json!({"code": code, "message": message})],
            retry_after: None,
        }
    }

    fn invalid_token() -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, 1000, "Invalid API Token")
    }

    fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            9109,
            "Unauthorized to access requested resource",
        )
    }

    fn missing_credentials() -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            9106,
            "Missing X-Auth-Key, X-Auth-Email or Authorization headers",
        )
    }

    fn malformed_authorization() -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            errors: vec![json!({
                "code": 6003,
                "message": "Invalid request headers",
                "error_chain": [{"code": 6111, "message": "Invalid format for Authorization header"}],
            })],
            retry_after: None,
        }
    }

    fn rate_limited(seconds: u64) -> ApiError {
        ApiError {
            retry_after: Some(seconds),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                10000,
                "Rate limited. Please wait and consider throttling your request speed",
            )
        }
    }

    /// An id that names nothing, worded like Cloudflare's.
    fn unknown_object(path: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            7003,
            &format!("Could not route to {path}, perhaps your object identifier is invalid?"),
        )
    }

    fn bad_query(message: &str) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, 1004, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(json!({
            "success": false,
            "errors": self.errors,
            "messages": [],
            "result": null,
        }));
        let mut response = (self.status, body).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

type ApiResult = Result<Json<Value>, ApiError>;

fn success(result: Value, messages: Value) -> Json<Value> {
    let mut body = serde_json::Map::new();
    body.insert("success".to_owned(), Value::Bool(true));
    body.insert("errors".to_owned(), Value::Array(Vec::new()));
    body.insert("messages".to_owned(), messages);
    body.insert("result".to_owned(), result);
    Json(Value::Object(body))
}

/// `page`/`per_page` of a list request, checked against the operation's bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Paging {
    page: u64,
    per_page: u64,
}

impl Paging {
    fn parse(
        query: &HashMap<String, String>,
        min_per_page: u64,
        default_per_page: u64,
        max_per_page: u64,
    ) -> Result<Paging, ApiError> {
        let number = |name: &str, default: u64, min: u64, max: u64| match query.get(name) {
            None => Ok(default),
            Some(text) => text
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|n| (min..=max).contains(n))
                .ok_or_else(|| {
                    ApiError::bad_query(&format!(
                        "Invalid value for `{name}`: expected an integer from {min} to {max}"
                    ))
                }),
        };
        Ok(Paging {
            page: number("page", 1, 1, u64::from(u32::MAX))?,
            per_page: number("per_page", default_per_page, min_per_page, max_per_page)?,
        })
    }

    /// This page of `items`, with Cloudflare's `result_info`.
    fn apply(self, items: Vec<Value>) -> (Vec<Value>, Value) {
        let total = u64::try_from(items.len()).unwrap_or(u64::MAX);
        let skip =
            usize::try_from((self.page - 1).saturating_mul(self.per_page)).unwrap_or(usize::MAX);
        let take = usize::try_from(self.per_page).unwrap_or(usize::MAX);
        let page: Vec<Value> = items.into_iter().skip(skip).take(take).collect();
        let info = json!({
            "page": self.page,
            "per_page": self.per_page,
            "count": page.len(),
            "total_count": total,
            "total_pages": total.div_ceil(self.per_page),
        });
        (page, info)
    }
}

fn paged(items: Vec<Value>, paging: Paging) -> Json<Value> {
    let (page, info) = paging.apply(items);
    Json(json!({
        "success": true,
        "errors": [],
        "messages": [],
        "result": page,
        "result_info": info,
    }))
}

fn query_map(
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<HashMap<String, String>, ApiError> {
    query
        .map(|Query(map)| map)
        .map_err(|_| ApiError::bad_query("Malformed query string"))
}

async fn verify(State(state): State<Arc<ApiState>>, headers: HeaderMap) -> ApiResult {
    let token = state.presented(&headers)?;
    let mut result = json!({"id": token.id, "status": token.status.as_str()});
    if let Some(expires_on) = token.expires_on {
        result["expires_on"] = json!(expires_on);
    }
    let messages = if token.status == Status::Active {
        json!([{"code": 10000, "message": "This API Token is valid and active", "type": null}])
    } else {
        json!([])
    };
    Ok(success(result, messages))
}

async fn list_tokens(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> ApiResult {
    state.authorize(&headers, &[Permission::ApiTokensRead])?;
    let paging = Paging::parse(&query_map(query)?, 5, 20, 50)?;
    let tokens: Vec<Value> = lock(&state.tokens).iter().map(token_json).collect();
    Ok(paged(tokens, paging))
}

async fn token_details(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    token_id: Result<Path<String>, PathRejection>,
) -> ApiResult {
    state.authorize(&headers, &[Permission::ApiTokensRead])?;
    let token_id = path_id(token_id, "/user/tokens")?;
    lock(&state.tokens)
        .iter()
        .find(|token| token.id == token_id)
        .map(|token| success(token_json(token), json!([])))
        .ok_or_else(|| ApiError::unknown_object(&format!("/user/tokens/{token_id}")))
}

/// Revokes a token. Cloudflare lets a token with "API Tokens: Edit" delete any of
/// the user's tokens, itself included; without it, not even itself.
async fn delete_token(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    token_id: Result<Path<String>, PathRejection>,
) -> ApiResult {
    let caller = state.presented(&headers)?;
    if caller.status != Status::Active {
        return Err(ApiError::invalid_token());
    }
    let token_id = path_id(token_id, "/user/tokens")?;
    if !caller.may(Permission::ApiTokensEdit) {
        return Err(ApiError::unauthorized());
    }
    let mut tokens = lock(&state.tokens);
    let Some(index) = tokens.iter().position(|token| token.id == token_id) else {
        return Err(ApiError::unknown_object(&format!(
            "/user/tokens/{token_id}"
        )));
    };
    let deleted = tokens.remove(index);
    Ok(success(json!({"id": deleted.id}), json!([])))
}

async fn list_zones(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> ApiResult {
    let token = state.authorize(&headers, &[Permission::ZoneRead])?;
    let query = query_map(query)?;
    let paging = Paging::parse(&query, 5, 20, 50)?;
    let zones: Vec<Value> = state
        .zones
        .iter()
        .filter(|(zone, _)| query.get("name").is_none_or(|name| name == zone.name))
        .map(|(zone, _)| zone_json(zone, &token))
        .collect();
    Ok(paged(zones, paging))
}

async fn list_dns_records(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    zone_id: Result<Path<String>, PathRejection>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> ApiResult {
    state.authorize(&headers, &[Permission::DnsRead])?;
    let zone_id = path_id(zone_id, "/zones")?;
    let query = query_map(query)?;
    let paging = Paging::parse(&query, 1, 100, 5_000_000)?;
    let Some((zone, records)) = state.zones.iter().find(|(zone, _)| zone.id == zone_id) else {
        return Err(ApiError::unknown_object(&format!(
            "/zones/{zone_id}/dns_records"
        )));
    };
    let records: Vec<Value> = records
        .iter()
        .filter(|record| query.get("type").is_none_or(|kind| kind == record.kind))
        .filter(|record| query.get("name").is_none_or(|name| name == record.name))
        .map(|record| record_json(zone, record))
        .collect();
    Ok(paged(records, paging))
}

fn path_id(id: Result<Path<String>, PathRejection>, under: &str) -> Result<String, ApiError> {
    id.map(|Path(id)| id)
        .map_err(|_| ApiError::unknown_object(under))
}

async fn requests(State(state): State<Arc<ApiState>>) -> Json<Value> {
    Json(json!(state.log.entries()))
}

async fn no_route() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, 7000, "No route for that URI")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, 7001, "Method not allowed")
}

/// A token as `GET /user/tokens/{id}` shows it: zone permissions in one policy
/// over all the account's zones, user permissions in another over the user.
fn token_json(token: &Token) -> Value {
    let groups = |on_zones: bool| -> Vec<Value> {
        token
            .permissions
            .iter()
            .filter(|permission| permission.on_zones() == on_zones)
            .map(|permission| {
                let (id, name) = permission.group();
                json!({"id": id, "name": name})
            })
            .collect()
    };
    let mut policies = Vec::new();
    let zone_groups = groups(true);
    if !zone_groups.is_empty() {
        policies.push(json!({
            "id": policy_id(token.id, 0),
            "effect": "allow",
            "resources": {
                format!("com.cloudflare.api.account.{}", seed::ACCOUNT_ID):
                    {"com.cloudflare.api.account.zone.*": "*"},
            },
            "permission_groups": zone_groups,
        }));
    }
    let user_groups = groups(false);
    if !user_groups.is_empty() {
        policies.push(json!({
            "id": policy_id(token.id, 16),
            "effect": "allow",
            "resources": {format!("com.cloudflare.api.user.{}", seed::USER_ID): "*"},
            "permission_groups": user_groups,
        }));
    }
    json!({
        "id": token.id,
        "name": token.name,
        "status": token.status.as_str(),
        "issued_on": token.issued_on,
        "modified_on": token.issued_on,
        "not_before": null,
        "expires_on": token.expires_on,
        "policies": policies,
        "condition": {},
    })
}

/// A stable policy id derived from the token's: its hex digits rotated.
fn policy_id(token_id: &str, rotate: usize) -> String {
    token_id
        .chars()
        .rev()
        .cycle()
        .skip(rotate)
        .take(token_id.chars().count())
        .collect()
}

fn zone_json(zone: &Zone, token: &Token) -> Value {
    let permissions: Vec<&str> = token
        .permissions
        .iter()
        .filter(|permission| permission.on_zones())
        .map(|permission| match permission {
            Permission::ZoneSettingsRead => "#zone_settings:read",
            Permission::DnsRead => "#dns_records:read",
            Permission::DnsEdit => "#dns_records:edit",
            _ => "#zone:read",
        })
        .collect();
    json!({
        "id": zone.id,
        "name": zone.name,
        "status": "active",
        "paused": false,
        "type": "full",
        "development_mode": 0,
        "name_servers": ["ada.ns.cloudflare.com", "bob.ns.cloudflare.com"],
        "original_name_servers": [format!("ns1.{}", zone.name), format!("ns2.{}", zone.name)],
        "original_registrar": null,
        "original_dnshost": null,
        "vanity_name_servers": [],
        "created_on": zone.created_on,
        "modified_on": zone.created_on,
        "activated_on": zone.created_on,
        "meta": {
            "step": 2,
            "custom_certificate_quota": 0,
            "page_rule_quota": 3,
            "phishing_detected": false,
            "cdn_only": false,
            "dns_only": false,
            "foundation_dns": false,
        },
        "owner": {"id": null, "type": "user", "email": null},
        "account": {"id": seed::ACCOUNT_ID, "name": "Ops Center (sandbox)"},
        "permissions": permissions,
        "plan": {
            "id": "0feeeeeeeeeeeeeeeeeeeeeeeeeeeeee",
            "name": "Free Website",
            "price": 0,
            "currency": "USD",
            "legacy_id": "free",
            "is_subscribed": false,
            "can_subscribe": false,
        },
    })
}

fn record_json(zone: &Zone, record: &Record) -> Value {
    json!({
        "id": record.id,
        "zone_id": zone.id,
        "zone_name": zone.name,
        "name": record.name,
        "type": record.kind,
        "content": record.content,
        "proxiable": matches!(record.kind, "A" | "AAAA" | "CNAME"),
        "proxied": record.proxied,
        "ttl": 1,
        "locked": false,
        "comment": null,
        "tags": [],
        "meta": {"auto_added": false, "managed_by_apps": false, "managed_by_argo_tunnel": false},
        "created_on": zone.created_on,
        "modified_on": zone.created_on,
    })
}
