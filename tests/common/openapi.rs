//! Every answer of the admin API that a test receives, checked against the OpenAPI document
//! (`/api/v1/openapi.json`): [`TestApp::api`](super::TestApp::api) points at a proxy that
//! passes each request on to the application unchanged and checks the answer on its way
//! back: its path and method are documented (or it is the documented 404 or 405), its status
//! is one the operation lists, and its body is of that status's media type and JSON Schema.
//! What does not match is kept, and [`ApiCheck`] fails the test when the application is
//! dropped, naming each request.

use std::collections::{BTreeSet, HashMap};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::Value;

/// The document, as the application serves it.
pub fn document() -> Value {
    serde_json::to_value(pinbridge::admin::api::openapi::document()).expect("a JSON document")
}

/// An answer that does not match the document: why.
type Mismatch = String;

/// What one response must be, from the document: the checker of its path, method and status.
pub struct Checker {
    doc: Value,
    /// The document's paths, each split into segments (`{name}` for a parameter).
    templates: Vec<(String, Vec<String>)>,
    /// Compiled JSON Schemas, by (path template, method, status, media type).
    compiled: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

impl Checker {
    pub fn new(doc: Value) -> Self {
        let templates = doc["paths"]
            .as_object()
            .expect("the document has paths")
            .keys()
            .map(|t| (t.clone(), t.split('/').map(str::to_owned).collect()))
            .collect();
        Self {
            doc,
            templates,
            compiled: Mutex::new(HashMap::new()),
        }
    }

    /// The path template `path` is an instance of: the one with the most literal segments,
    /// as the router prefers `/calls/connect` to a parameter.
    fn template(&self, path: &str) -> Option<&str> {
        let segments: Vec<&str> = path.split('/').collect();
        self.templates
            .iter()
            .filter(|(_, t)| {
                t.len() == segments.len()
                    && t.iter().zip(&segments).all(|(t, s)| {
                        if t.starts_with('{') {
                            !s.is_empty()
                        } else {
                            t == s
                        }
                    })
            })
            .max_by_key(|(_, t)| t.iter().filter(|s| !s.starts_with('{')).count())
            .map(|(name, _)| name.as_str())
    }

    /// `body` against the JSON Schema `schema` of the document (its `$ref`s resolved in it).
    fn validate(&self, key: String, schema: &Value, body: &Value) -> Result<(), Mismatch> {
        let validator = {
            let mut compiled = self.compiled.lock().unwrap();
            compiled
                .entry(key)
                .or_insert_with(|| {
                    let mut root = schema.clone();
                    let root_map = root.as_object_mut().expect("a schema object");
                    root_map.insert("components".into(), self.doc["components"].clone());
                    Arc::new(
                        jsonschema::options()
                            .with_draft(jsonschema::Draft::Draft202012)
                            .should_validate_formats(true)
                            .build(&root)
                            .expect("the document's schema compiles"),
                    )
                })
                .clone()
        };
        let errors: Vec<String> = validator
            .iter_errors(body)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "the body {body} does not match: {}",
                errors.join("; ")
            ))
        }
    }

    /// The document's `#/components/responses/...` a `$ref` points at, or `r` itself.
    fn resolve<'a>(&'a self, r: &'a Value) -> &'a Value {
        match r.get("$ref").and_then(Value::as_str) {
            Some(at) => self
                .doc
                .pointer(at.trim_start_matches('#'))
                .expect("the document's $ref resolves"),
            None => r,
        }
    }

    /// An error answer of the shared `response` (`NotFound`...), of `code`.
    fn shared_error(&self, key: &str, body: &[u8], code: &str) -> Result<(), Mismatch> {
        let json: Value = serde_json::from_slice(body)
            .map_err(|_| format!("the body is not JSON: {}", String::from_utf8_lossy(body)))?;
        let schema = serde_json::json!({"$ref": "#/components/schemas/Error"});
        self.validate(format!("shared {key}"), &schema, &json)?;
        if json["error"]["code"] != code {
            return Err(format!("the error code is not `{code}`: {json}"));
        }
        Ok(())
    }

    /// Whether the answer `status`, `content_type`, `body` to `method` `path` (without the
    /// query) matches the document.
    pub fn check(
        &self,
        method: &str,
        path: &str,
        status: u16,
        content_type: Option<&str>,
        allow: Option<&str>,
        body: &[u8],
    ) -> Result<(), Mismatch> {
        let Some(template) = self.template(path) else {
            // A path no operation has: the router's JSON 404, and nothing else.
            if status != 404 {
                return Err(format!("{status} for a path the document does not have"));
            }
            return self.shared_error("404", body, "not_found");
        };
        let item = &self.doc["paths"][template];
        let method = method.to_ascii_lowercase();
        let Some(operation) = item.get(&method) else {
            if status != 405 {
                return Err(format!(
                    "{status} for a method the document does not have on {template}"
                ));
            }
            let documented: BTreeSet<String> = ["get", "put", "post", "delete", "patch"]
                .into_iter()
                .filter(|m| item.get(*m).is_some())
                .map(str::to_uppercase)
                .collect();
            let allowed: BTreeSet<String> = allow
                .unwrap_or("")
                .split(',')
                .map(|m| m.trim().to_owned())
                .filter(|m| !m.is_empty())
                .collect();
            if allowed != documented {
                return Err(format!(
                    "405 with Allow {allowed:?}, but the document has {documented:?}"
                ));
            }
            return self.shared_error("405", body, "method_not_allowed");
        };
        let Some(response) = operation["responses"].get(status.to_string()) else {
            return Err(format!(
                "{status} is not documented for {method} {template}"
            ));
        };
        let response = self.resolve(response);
        let Some(content) = response.get("content").and_then(Value::as_object) else {
            if !body.is_empty() {
                return Err(format!(
                    "{status} of {method} {template} has no body in the document, but one came: {}",
                    String::from_utf8_lossy(body)
                ));
            }
            return Ok(());
        };
        let media = content_type
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        let Some(media_type) = content.get(&media) else {
            return Err(format!(
                "{status} of {method} {template} came as `{media}`; the document has {:?}",
                content.keys().collect::<Vec<_>>()
            ));
        };
        if media != "application/json" {
            return Ok(());
        }
        let json: Value = serde_json::from_slice(body).map_err(|_| {
            format!(
                "{status} of {method} {template}: the body is not JSON: {}",
                String::from_utf8_lossy(body)
            )
        })?;
        let schema = media_type
            .get("schema")
            .cloned()
            .unwrap_or(Value::Bool(true));
        self.validate(format!("{method} {template} {status}"), &schema, &json)
            .map_err(|e| format!("{status} of {method} {template}: {e}"))
    }
}

/// The proxy in front of one application's admin API, and what it found wrong so far. Dropped
/// with the [`TestApp`](super::TestApp) that holds it: it then fails the test when an answer
/// did not match the document (unless the test failed already).
pub struct ApiCheck {
    /// `http://127.0.0.1:<port>` of the proxy.
    pub address: String,
    mismatches: Arc<Mutex<Vec<String>>>,
    handle: actix_web::dev::ServerHandle,
}

/// What the proxy's handler is given.
struct Proxy {
    upstream: String,
    client: reqwest::Client,
    checker: Arc<Checker>,
    mismatches: Arc<Mutex<Vec<String>>>,
}

/// Headers of one connection, which a proxy does not pass on.
const HOP_BY_HOP: [&str; 6] = [
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "host",
    "upgrade",
];

/// The one checker of the test binary: the document is the same for every application.
static CHECKER: std::sync::LazyLock<Arc<Checker>> =
    std::sync::LazyLock::new(|| Arc::new(Checker::new(document())));

impl ApiCheck {
    /// Starts a proxy to the application at `upstream` (`http://127.0.0.1:<port>`).
    pub fn start(upstream: &str) -> Self {
        let mismatches = Arc::new(Mutex::new(Vec::new()));
        let proxy = web::Data::new(Proxy {
            upstream: upstream.to_owned(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            checker: CHECKER.clone(),
            mismatches: mismatches.clone(),
        });
        let listener = TcpListener::bind("127.0.0.1:0").expect("a port for the proxy");
        let address = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(proxy.clone())
                // Larger than any body the application takes, so that its 413 is checked too.
                .app_data(web::PayloadConfig::new(16 * 1024 * 1024))
                .default_service(web::to(forward))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("the proxy listens")
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            address,
            mismatches,
            handle,
        }
    }

    /// The answers so far that did not match the document.
    pub fn mismatches(&self) -> Vec<String> {
        self.mismatches.lock().unwrap().clone()
    }
}

impl Drop for ApiCheck {
    fn drop(&mut self) {
        // Sent at once; the future only waits for the stop.
        drop(self.handle.stop(false));
        let found = self.mismatches();
        if !found.is_empty() && !std::thread::panicking() {
            panic!(
                "admin API answers that do not match the OpenAPI document:\n{}",
                found.join("\n")
            );
        }
    }
}

/// Passes the request on to the application and checks its answer.
async fn forward(req: HttpRequest, body: web::Bytes, proxy: web::Data<Proxy>) -> HttpResponse {
    let target = req
        .uri()
        .path_and_query()
        .map_or(req.uri().path(), |pq| pq.as_str());
    let method = reqwest::Method::from_bytes(req.method().as_str().as_bytes()).unwrap();
    let mut request = proxy
        .client
        .request(method, format!("{}{target}", proxy.upstream));
    for (name, value) in req.headers() {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            request = request.header(name.as_str(), value.as_bytes());
        }
    }
    if !body.is_empty() || req.headers().contains_key("content-length") {
        request = request.body(body.to_vec());
    }
    let answer = match request.send().await {
        Ok(answer) => answer,
        Err(e) => return HttpResponse::BadGateway().body(format!("the proxy: {e}")),
    };
    let status = answer.status().as_u16();
    let headers = answer.headers().clone();
    let bytes = answer.bytes().await.unwrap_or_default();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Err(why) = proxy.checker.check(
        req.method().as_str(),
        req.path(),
        status,
        header("content-type"),
        header("allow"),
        &bytes,
    ) {
        let line = format!("{} {target} -> {why}", req.method());
        eprintln!("OpenAPI mismatch: {line}");
        proxy.mismatches.lock().unwrap().push(line);
    }
    let mut response = HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap());
    for (name, value) in &headers {
        // The proxy's own server writes a `date`.
        if !HOP_BY_HOP.contains(&name.as_str()) && name != "date" {
            response.append_header((name.as_str(), value.as_bytes()));
        }
    }
    response.body(bytes)
}
