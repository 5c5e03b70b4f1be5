//! `GET /api/v1/docs`: the admin API's OpenAPI document as a page to read, rendered on the
//! server from the same document `/api/v1/openapi.json` serves.
//!
//! Rendered here rather than by a JavaScript viewer from a CDN: the page loads no script from
//! elsewhere into the origin of the admin UI, works where the server has no way out to the
//! internet, and keeps the admin UI's Content-Security-Policy (no script at all). Tools that
//! want the document itself (client generators, Postman, Swagger Editor) take
//! `/api/v1/openapi.json`.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use askama::Template;
use serde_json::Value;

use crate::admin::api::openapi;

/// One parameter of an operation.
struct Param {
    name: String,
    /// `path` or `query`.
    location: String,
    required: bool,
    kind: String,
    description: String,
}

/// One answer of an operation.
struct Answer {
    status: String,
    description: String,
    /// The body's type; empty for no body.
    kind: String,
    /// The anchor of the body's schema on this page; empty when it has none.
    link: String,
}

/// One operation.
struct Operation {
    method: String,
    path: String,
    anchor: String,
    summary: String,
    /// Paragraphs.
    description: Vec<String>,
    needs_token: bool,
    params: Vec<Param>,
    /// The request body's schema name; empty for none.
    body: String,
    answers: Vec<Answer>,
}

/// The operations of one tag.
struct Group {
    name: String,
    description: String,
    operations: Vec<Operation>,
}

/// One property of a schema.
struct Field {
    name: String,
    required: bool,
    kind: String,
    description: String,
}

/// A named schema of the document.
struct Shape {
    name: String,
    description: String,
    fields: Vec<Field>,
}

#[derive(Template)]
#[template(path = "admin/api_docs.html")]
struct DocsPage {
    signed_in: bool,
    section: &'static str,
    csrf: String,
    title: String,
    version: String,
    /// Paragraphs.
    description: Vec<String>,
    groups: Vec<Group>,
    shapes: Vec<Shape>,
}

/// The text of `v[key]`, or empty.
fn text(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or("").to_owned()
}

/// The paragraphs of a description.
fn paragraphs(text: &str) -> Vec<String> {
    text.split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The name a `$ref` points at (`#/components/schemas/Order` → `Order`).
fn ref_name(v: &Value) -> Option<&str> {
    v.get("$ref")?.as_str()?.rsplit('/').next()
}

/// A schema as a reader says its type: `Order`, `string (date-time)`, `array of Order`,
/// `string or null`, `one of active, expired`.
fn kind(schema: &Value) -> String {
    if let Some(name) = ref_name(schema) {
        return name.to_owned();
    }
    if let Some(words) = schema.get("enum").and_then(Value::as_array) {
        let words: Vec<&str> = words.iter().filter_map(Value::as_str).collect();
        return format!("one of {}", words.join(", "));
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(options) = schema.get(key).and_then(Value::as_array) {
            return options.iter().map(kind).collect::<Vec<_>>().join(" or ");
        }
    }
    let types: Vec<String> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.clone()],
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => return "any".to_owned(),
    };
    types
        .iter()
        .map(|t| match t.as_str() {
            "array" => format!(
                "array of {}",
                schema.get("items").map_or("any".to_owned(), kind)
            ),
            other => match schema.get("format").and_then(Value::as_str) {
                Some(format) => format!("{other} ({format})"),
                None => other.to_owned(),
            },
        })
        .collect::<Vec<_>>()
        .join(" or ")
}

/// The document's `#/components/responses/...` a `$ref` points at, or the response itself.
fn resolve<'a>(doc: &'a Value, response: &'a Value) -> &'a Value {
    ref_name(response)
        .and_then(|name| doc.pointer(&format!("/components/responses/{name}")))
        .unwrap_or(response)
}

/// The operations of `doc` under the tag `tag`, in the document's order.
fn operations(doc: &Value, tag: &str) -> Vec<Operation> {
    let mut found = Vec::new();
    let Some(paths) = doc.get("paths").and_then(Value::as_object) else {
        return found;
    };
    for (path, item) in paths {
        for method in ["get", "post", "put", "patch", "delete"] {
            let Some(op) = item.get(method) else { continue };
            let tagged = op
                .get("tags")
                .and_then(Value::as_array)
                .is_some_and(|tags| tags.iter().any(|t| t == tag));
            if !tagged {
                continue;
            }
            let params = op
                .get("parameters")
                .and_then(Value::as_array)
                .map(|ps| {
                    ps.iter()
                        .map(|p| Param {
                            name: text(p, "name"),
                            location: text(p, "in"),
                            required: p.get("required") == Some(&Value::Bool(true)),
                            kind: p.get("schema").map_or("any".to_owned(), kind),
                            // A parameter whose schema is a list of words says what they mean
                            // in the schema.
                            description: Some(text(p, "description"))
                                .filter(|d| !d.is_empty())
                                .or_else(|| p.get("schema").map(|s| text(s, "description")))
                                .unwrap_or_default(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            let body = op
                .pointer("/requestBody/content/application~1json/schema")
                .map(kind)
                .unwrap_or_default();
            let answers = op
                .get("responses")
                .and_then(Value::as_object)
                .map(|rs| {
                    rs.iter()
                        .map(|(status, r)| {
                            let r = resolve(doc, r);
                            let schema = r
                                .get("content")
                                .and_then(Value::as_object)
                                .and_then(|c| c.values().next())
                                .and_then(|c| c.get("schema"));
                            Answer {
                                status: status.clone(),
                                description: text(r, "description"),
                                kind: schema.map(kind).unwrap_or_default(),
                                link: schema
                                    .and_then(ref_name)
                                    .map(str::to_owned)
                                    .unwrap_or_default(),
                            }
                        })
                        .collect()
                })
                .unwrap_or_default();
            found.push(Operation {
                method: method.to_uppercase(),
                anchor: format!("{method}-{}", path.trim_start_matches('/'))
                    .replace(['/', '{', '}', '.'], "-"),
                path: path.clone(),
                summary: text(op, "summary"),
                description: paragraphs(&text(op, "description")),
                needs_token: op
                    .get("security")
                    .and_then(Value::as_array)
                    .is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some())),
                params,
                body,
                answers,
            });
        }
    }
    found
}

/// The named schemas of `doc`, in name order.
fn shapes(doc: &Value) -> Vec<Shape> {
    let Some(schemas) = doc
        .pointer("/components/schemas")
        .and_then(Value::as_object)
    else {
        return Vec::new();
    };
    schemas
        .iter()
        .map(|(name, schema)| {
            let required: Vec<&str> = schema
                .get("required")
                .and_then(Value::as_array)
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let fields = schema
                .get("properties")
                .and_then(Value::as_object)
                .map(|props| {
                    props
                        .iter()
                        .map(|(field, s)| Field {
                            name: field.clone(),
                            required: required.contains(&field.as_str()),
                            kind: kind(s),
                            description: text(s, "description"),
                        })
                        .collect()
                })
                .unwrap_or_default();
            Shape {
                name: name.clone(),
                description: text(schema, "description"),
                fields,
            }
        })
        .collect()
}

/// The admin API.
///
/// The OpenAPI document as a page: every operation with its parameters, body and answers, and
/// every JSON shape. Needs no token: it holds no data.
#[utoipa::path(
    operation_id = "openapi_page",
    get,
    path = "/api/v1/docs",
    tag = "documentation",
    security(()),
    responses((status = 200, description = "The page.", content_type = "text/html"))
)]
pub async fn page() -> actix_web::Result<HttpResponse> {
    let doc = serde_json::to_value(openapi::document())
        .map_err(actix_web::error::ErrorInternalServerError)?;
    let groups = doc
        .get("tags")
        .and_then(Value::as_array)
        .map(|tags| {
            tags.iter()
                .map(|t| Group {
                    name: text(t, "name"),
                    description: text(t, "description"),
                    operations: operations(&doc, &text(t, "name")),
                })
                .collect()
        })
        .unwrap_or_default();
    let page = DocsPage {
        signed_in: false,
        section: "",
        csrf: String::new(),
        title: doc
            .pointer("/info/title")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
        version: doc
            .pointer("/info/version")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
        description: paragraphs(
            doc.pointer("/info/description")
                .and_then(Value::as_str)
                .unwrap_or(""),
        ),
        groups,
        shapes: shapes(&doc),
    };
    super::orders::html(StatusCode::OK, &page)
}
