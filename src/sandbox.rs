//! The sandbox that operators' templates render in: the greetings callers hear
//! ([`crate::call::prompts`]) and the SMS text after an unanswered call ([`crate::outbound::sms`]). Whoever holds
//! an admin session writes greetings, so a template is hostile input: it must not be able to
//! exhaust memory, hold a core, or delay a call step.
//!
//! # What a template may use
//!
//! Text, `{{ expression }}` and `{% if %}` … `{% elif %}` … `{% else %}` … `{% endif %}`. An
//! expression may name the template's variables ([`Rules::variables`]), write numbers, strings
//! and lists, compare (`==`, `<`, `in`, …), combine with `and`, `or` and `not`, add, subtract and
//! divide, join texts with `~`, choose with `a if b else c`, and apply the filters [`FILTERS`]
//! and the tests [`TESTS`]. Everything else is refused before the template compiles, with a
//! message that names the construct and its line: the statements `for`, `set`, `with`,
//! `filter`, `autoescape`, `do`, `macro`, `call`, `include`, `import`, `from`, `extends` and
//! `block`; function and method calls; attribute, item and slice lookups; map literals; `*` and
//! `**`.
//!
//! # Why the syntax tree is checked, and fuel is not enough
//!
//! minijinja's fuel counts instructions, not bytes, and it has no limit on the size of a value:
//! `~`, `*`, `join`, `replace` or `indent` make a text twice (or a million times) as long in one
//! instruction. Thirty-one rounds of `{% set ns.s = ns.s ~ ns.s %}` in a loop, a template of
//! about a hundred characters, ask for 2 GiB long before a fuel budget runs out, and the process
//! aborts. Growth needs a name bound to a value built from itself (`set`, `with`, a loop's
//! `namespace`), a repetition (a loop, `*`, filters that repeat their argument), or a captured
//! block rendered more than once (macros, `caller()`, `set` and `filter` blocks,
//! `self.block()`). With none of them, each sub-expression runs at most once and a value is
//! never longer than the values below it put together: a rendering is linear in the source
//! ([`MAX_SOURCE_BYTES`]) times the longest variable. Building minijinja without its `macros`
//! and `multi_template` features and starting from an empty environment is not enough on its
//! own: `set`, `~` and `for` are core syntax. A whitelist over minijinja's own parse of the
//! template (its `unstable_machinery` parser, the one that compiles it) is the simplest rule
//! that bounds memory, and a greeting needs nothing it refuses.
//!
//! # The bounds behind the check
//!
//! - CPU: [`FUEL`] instructions a render. A template that passes the check runs about one
//!   instruction per byte of its source at most; fuel bounds the CPU should the check ever let
//!   a loop through.
//! - Recursion: [`RECURSION_LIMIT`] frames at run time. minijinja's parser refuses nesting
//!   deeper than 150 levels, which also bounds this module's walk of the tree.
//! - Size: a writer refuses the byte past [`Rules::max_output_bytes`], and a filter's result is
//!   refused past [`MAX_VALUE_BYTES`].
//! - No host access: no loader (no file is read, nothing is included), no global functions
//!   (`range`, `namespace`, `dict`, `debug`), only the filters and tests named here; an unknown
//!   variable is an error.
//!
//! # Where
//!
//! Never on a call's path: a call step looks up words rendered beforehand
//! ([`crate::call::prompts::Book`]). Previews, validations and book builds run through
//! [`off_the_call_path`]: on tokio's blocking pool, one at a time, so previews hold one core at
//! most, and only for as long as [`FUEL`] lets them.

use std::borrow::Cow;
use std::io;

use minijinja::machinery::Span;
use minijinja::machinery::ast::{BinOpKind, CallArg, Expr, Stmt};
use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior, Value};

/// The longest template source the sandbox compiles, in bytes. Greetings are held to
/// [`crate::call::prompts::MAX_BODY_LEN`] before they get here.
pub const MAX_SOURCE_BYTES: usize = 8 * 1024;

/// Instructions one render may run. A template that passes the check runs at most about one
/// per byte of its source (the shipped greetings, under twenty).
pub const FUEL: u64 = 50_000;

/// Stack frames one render may hold (minijinja's default is 500). Only loops, `with` blocks,
/// macros and includes push frames, and the check refuses them all.
pub const RECURSION_LIMIT: usize = 8;

/// The longest result of a filter, in bytes: upper-casing can lengthen a text (`ΐ` → `Ϊ́`,
/// three times as many bytes).
pub const MAX_VALUE_BYTES: usize = 8 * 1024;

/// The filters a template may apply. None repeats its input.
pub const FILTERS: [&str; 5] = ["upper", "lower", "title", "capitalize", "trim"];

/// The tests a template may use: `{% if attempts_left is even %}`.
pub const TESTS: [&str; 3] = ["even", "odd", "divisibleby"];

/// What one kind of template may name and produce.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    /// What the template is, for messages: `a greeting`, `the SMS text`.
    pub what: &'static str,
    /// The variables it may name.
    pub variables: &'static [&'static str],
    /// The longest rendering, in bytes.
    pub max_output_bytes: usize,
}

/// The name the one template of a [`Checked`] environment is kept under.
const NAME: &str = "template";

/// A template that passed the check and compiled: render it as often as needed.
pub struct Checked {
    env: Environment<'static>,
    rules: Rules,
}

impl std::fmt::Debug for Checked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checked")
            .field("rules", &self.rules)
            .finish_non_exhaustive()
    }
}

impl Checked {
    /// Checks `source` against `rules` (see [`check`]) and compiles it.
    ///
    /// Errors: the check's, or minijinja's compile error, as an operator reads them.
    pub fn new(rules: Rules, source: &str) -> Result<Self, String> {
        check(&rules, source)?;
        let mut env = environment();
        env.add_template_owned(NAME, source.to_owned())
            .map_err(|e| describe(&rules, &e))?;
        Ok(Self { env, rules })
    }

    /// Renders with `context` (a map of the rules' variables), within [`FUEL`] and
    /// [`Rules::max_output_bytes`].
    ///
    /// Errors: out of fuel, too long, or an operation that fails on these values (text minus a
    /// number), as an operator reads them.
    pub fn render(&self, context: Value) -> Result<String, String> {
        let template = self
            .env
            .get_template(NAME)
            .map_err(|e| describe(&self.rules, &e))?;
        let mut out = Capped {
            bytes: Vec::new(),
            limit: self.rules.max_output_bytes,
        };
        match template.render_captured_to(context, &mut out) {
            Ok(_) => String::from_utf8(out.bytes)
                .map_err(|_| "it renders to something that is not text".to_owned()),
            Err(e) if e.kind() == ErrorKind::WriteFailure => Err(format!(
                "it renders longer than {} bytes",
                self.rules.max_output_bytes
            )),
            Err(e) => Err(describe(&self.rules, &e)),
        }
    }
}

/// Checks, compiles and renders `source` once (see [`Checked`]).
pub fn render(rules: &Rules, source: &str, context: Value) -> Result<String, String> {
    Checked::new(*rules, source)?.render(context)
}

/// Checks that `source` parses and uses only what the sandbox allows (see the module docs),
/// without compiling or rendering it.
///
/// Errors: a syntax error, an unknown variable, or the first construct that is not allowed,
/// with its line.
pub fn check(rules: &Rules, source: &str) -> Result<(), String> {
    if source.len() > MAX_SOURCE_BYTES {
        return Err(format!(
            "{} can be at most {MAX_SOURCE_BYTES} bytes long",
            rules.what
        ));
    }
    let tree = minijinja::machinery::parse(source, NAME, Default::default())
        .map_err(|e| describe(rules, &e))?;
    Walk { rules }.stmt(&tree)
}

/// The environment every operator template compiles in: empty (no loader, no globals), the
/// [`FILTERS`] and [`TESTS`] only, strict undefined, no auto-escaping (the provider templates
/// escape), with [`FUEL`] and [`RECURSION_LIMIT`].
fn environment() -> Environment<'static> {
    let mut env = Environment::empty();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(FUEL));
    env.set_recursion_limit(RECURSION_LIMIT);
    env.add_filter("upper", |s: Cow<'_, str>| capped(s.to_uppercase()));
    env.add_filter("lower", |s: Cow<'_, str>| capped(s.to_lowercase()));
    env.add_filter("title", |s: Cow<'_, str>| {
        capped(minijinja::filters::title(s))
    });
    env.add_filter("capitalize", |s: Cow<'_, str>| {
        let mut chars = s.chars();
        capped(match chars.next() {
            Some(first) => first
                .to_uppercase()
                .chain(chars.flat_map(char::to_lowercase))
                .collect(),
            None => String::new(),
        })
    });
    env.add_filter("trim", minijinja::filters::trim);
    env.add_test("even", minijinja::tests::is_even);
    env.add_test("odd", minijinja::tests::is_odd);
    env.add_test("divisibleby", minijinja::tests::is_divisibleby);
    env
}

/// A filter's result, refused past [`MAX_VALUE_BYTES`].
fn capped(s: String) -> Result<String, Error> {
    if s.len() > MAX_VALUE_BYTES {
        Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("a filter's result is longer than {MAX_VALUE_BYTES} bytes"),
        ))
    } else {
        Ok(s)
    }
}

/// The output of a render, refusing the write that would pass `limit` bytes.
struct Capped {
    bytes: Vec<u8>,
    limit: usize,
}

impl io::Write for Capped {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.bytes.len() + buf.len() > self.limit {
            return Err(io::Error::other("the rendering is too long"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// `a`, `a and b`, `a, b and c`.
fn and_list(items: impl IntoIterator<Item = String>) -> String {
    let items: Vec<String> = items.into_iter().collect();
    match items.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// `{{ brand }} and {{ attempts_left }}`.
fn variables(rules: &Rules) -> String {
    and_list(rules.variables.iter().map(|v| format!("{{{{ {v} }}}}")))
}

/// What a template of `rules` can use, for a refusal.
fn allowed(rules: &Rules) -> String {
    format!(
        "only text, {}, {{% if %}} … {{% elif %}} … {{% else %}} … {{% endif %}}, the filters {} \
         and the tests {} can be used",
        variables(rules),
        and_list(FILTERS.iter().map(|f| (*f).to_owned())),
        and_list(TESTS.iter().map(|t| (*t).to_owned())),
    )
}

/// The message for `what` (a construct, in backquotes) refused at `line`.
fn refusal(rules: &Rules, what: &str, line: Option<usize>) -> String {
    let at = line.map(|l| format!(" (line {l})")).unwrap_or_default();
    format!(
        "{what} is not allowed in {}{at}: {}",
        rules.what,
        allowed(rules)
    )
}

/// A minijinja error as an operator reads it: what is wrong, and on which line.
fn describe(rules: &Rules, e: &Error) -> String {
    // Statements of the features minijinja is built without (`macro`, `include`, …) do not
    // parse: name them as refused, not as unknown.
    let refused = e
        .detail()
        .filter(|_| e.kind() == ErrorKind::SyntaxError)
        .and_then(|d| d.strip_prefix("unknown statement "));
    if let Some(statement) = refused {
        return refusal(rules, &format!("`{{% {statement} %}}`"), e.line());
    }
    let mut out = match e.kind() {
        ErrorKind::UndefinedError => {
            format!("unknown variable: only {} can be used", variables(rules))
        }
        ErrorKind::OutOfFuel => {
            format!("it takes more than {FUEL} steps to render")
        }
        kind => match e.detail() {
            Some(detail) => format!("{kind}: {detail}"),
            None => kind.to_string(),
        },
    };
    if let Some(line) = e.line() {
        out.push_str(&format!(" (line {line})"));
    }
    out
}

/// The walk of a parsed template that refuses what the sandbox does not allow.
struct Walk<'r> {
    rules: &'r Rules,
}

impl Walk<'_> {
    fn refuse(&self, what: &str, span: Span) -> String {
        refusal(self.rules, what, Some(usize::from(span.start_line)))
    }

    fn body(&self, body: &[Stmt<'_>]) -> Result<(), String> {
        body.iter().try_for_each(|s| self.stmt(s))
    }

    fn stmt(&self, stmt: &Stmt<'_>) -> Result<(), String> {
        // No wildcard arm: a minijinja built with more statements (a feature turned on by
        // another crate) does not compile here until they are decided on.
        match stmt {
            Stmt::Template(t) => self.body(&t.children),
            Stmt::EmitRaw(_) => Ok(()),
            Stmt::EmitExpr(e) => self.expr(&e.expr),
            Stmt::IfCond(c) => {
                self.expr(&c.expr)?;
                self.body(&c.true_body)?;
                self.body(&c.false_body)
            }
            Stmt::ForLoop(s) => Err(self.refuse("`{% for %}`", s.span())),
            Stmt::WithBlock(s) => Err(self.refuse("`{% with %}`", s.span())),
            Stmt::Set(s) => Err(self.refuse("`{% set %}`", s.span())),
            Stmt::SetBlock(s) => Err(self.refuse("`{% set %}`", s.span())),
            Stmt::AutoEscape(s) => Err(self.refuse("`{% autoescape %}`", s.span())),
            Stmt::FilterBlock(s) => Err(self.refuse("`{% filter %}`", s.span())),
            Stmt::Do(s) => Err(self.refuse("`{% do %}`", s.span())),
        }
    }

    fn args(&self, args: &[CallArg<'_>], span: Span) -> Result<(), String> {
        args.iter().try_for_each(|a| match a {
            CallArg::Pos(e) | CallArg::Kwarg(_, e) => self.expr(e),
            CallArg::PosSplat(_) | CallArg::KwargSplat(_) => {
                Err(self.refuse("unpacking arguments (`*args`, `**kwargs`)", span))
            }
        })
    }

    fn expr(&self, expr: &Expr<'_>) -> Result<(), String> {
        match expr {
            Expr::Var(v) => {
                if self.rules.variables.contains(&v.id) {
                    Ok(())
                } else {
                    Err(format!(
                        "unknown variable `{}` (line {}): only {} can be used",
                        v.id,
                        v.span().start_line,
                        variables(self.rules)
                    ))
                }
            }
            Expr::Const(_) => Ok(()),
            Expr::UnaryOp(op) => self.expr(&op.expr),
            Expr::BinOp(op) => {
                // `a ~ b ~ c …` nests to the left as deep as the chain is long: walk the left
                // spine in a loop, not by recursion.
                let mut op = op;
                loop {
                    match op.op {
                        BinOpKind::Mul => return Err(self.refuse("`*`", op.span())),
                        BinOpKind::Pow => return Err(self.refuse("`**`", op.span())),
                        _ => self.expr(&op.right)?,
                    }
                    match &op.left {
                        Expr::BinOp(left) => op = left,
                        left => return self.expr(left),
                    }
                }
            }
            Expr::Compare(c) => {
                self.expr(&c.expr)?;
                c.ops.iter().try_for_each(|op| self.expr(&op.expr))
            }
            Expr::IfExpr(e) => {
                self.expr(&e.test_expr)?;
                self.expr(&e.true_expr)?;
                e.false_expr.as_ref().map_or(Ok(()), |f| self.expr(f))
            }
            Expr::Filter(f) => {
                // `x|upper|lower|…` nests to the left too.
                let mut f = f;
                loop {
                    if !FILTERS.contains(&f.name) {
                        return Err(self.refuse(&format!("the filter `{}`", f.name), f.span()));
                    }
                    self.args(&f.args, f.span())?;
                    match &f.expr {
                        Some(Expr::Filter(inner)) => f = inner,
                        Some(inner) => return self.expr(inner),
                        // Only a `{% filter %}` block has a filter without an operand.
                        None => return Err(self.refuse("`{% filter %}`", f.span())),
                    }
                }
            }
            Expr::Test(t) => {
                if !TESTS.contains(&t.name) {
                    return Err(self.refuse(&format!("the test `{}`", t.name), t.span()));
                }
                self.expr(&t.expr)?;
                self.args(&t.args, t.span())
            }
            Expr::List(l) => l.items.iter().try_for_each(|e| self.expr(e)),
            Expr::Tuple(t) => t.items.iter().try_for_each(|e| self.expr(e)),
            Expr::Call(c) => Err(self.refuse("calling a function or method (`…()`)", c.span())),
            Expr::GetAttr(a) => Err(self.refuse(&format!("looking up `.{}`", a.name), a.span())),
            Expr::GetItem(i) => Err(self.refuse("looking up an item (`[…]`)", i.span())),
            Expr::Slice(s) => Err(self.refuse("slicing (`[…:…]`)", s.span())),
            Expr::Map(m) => Err(self.refuse("a map (`{…}`)", m.span())),
        }
    }
}

/// Jobs of [`off_the_call_path`] that run at once in the process.
const JOBS_AT_ONCE: usize = 1;

/// The turns of [`off_the_call_path`].
static TURNS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(JOBS_AT_ONCE);

/// Runs `job` (a preview, a validation, a greeting book's build) off the call path: on tokio's
/// blocking pool, never on an actix worker or a tokio core thread, and one job at a time in the
/// process, so that previews can not hold both cores of a small host between them. The job
/// keeps its turn until it ends, even if the request that asked for it goes away.
///
/// Errors: the job panicked (a bug); the message says so and nothing else.
pub async fn off_the_call_path<T: Send + 'static>(
    job: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    let turn = TURNS
        .acquire()
        .await
        .map_err(|_| "the template sandbox is closed".to_owned())?;
    tokio::task::spawn_blocking(move || {
        let _turn = turn;
        job()
    })
    .await
    .map_err(|_| "the template could not be rendered; try again".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::context;

    const RULES: Rules = Rules {
        what: "a greeting",
        variables: &["brand", "attempts_left"],
        max_output_bytes: 3000,
    };

    fn render(source: &str) -> Result<String, String> {
        super::render(
            &RULES,
            source,
            context! { brand => "Swift", attempts_left => 2 },
        )
    }

    #[test]
    fn variables_conditions_filters_and_tests_render() {
        assert_eq!(
            render(
                "{{ brand|upper }}: {% if attempts_left is even %}{{ attempts_left - 1 }} \
                 {{ 'try' if attempts_left == 2 else 'tries' }}{% elif attempts_left in [1, 3] %}odd\
                 {% else %}none{% endif %} {{ ('a' ~ brand)|lower|capitalize }} {{ ' x '|trim }}"
            ),
            Ok("SWIFT: 1 try Aswift x".to_owned())
        );
    }

    #[test]
    fn each_construct_that_can_grow_or_repeat_a_value_is_refused_by_name_and_line() {
        for (source, named) in [
            ("{% set x = brand ~ brand %}{{ x }}", "`{% set %}`"),
            ("{% set x %}{{ brand }}{% endset %}", "`{% set %}`"),
            ("{% with x = brand %}{{ x }}{% endwith %}", "`{% with %}`"),
            (
                "\n{% for i in [1] %}x{% endfor %}",
                "`{% for %}` is not allowed in a greeting (line 2)",
            ),
            ("{% filter upper %}x{% endfilter %}", "`{% filter %}`"),
            (
                "{% autoescape true %}x{% endautoescape %}",
                "`{% autoescape %}`",
            ),
            ("{% macro m() %}x{% endmacro %}", "`{% macro %}`"),
            ("{% include 'x' %}", "`{% include %}`"),
            ("{% extends 'x' %}", "`{% extends %}`"),
            ("{% block b %}x{% endblock %}", "`{% block %}`"),
            ("{{ brand * 1000 }}", "`*`"),
            ("{{ 2 ** 1000 }}", "`**`"),
            ("{{ brand|replace('', brand) }}", "the filter `replace`"),
            ("{{ [brand, brand]|join(brand) }}", "the filter `join`"),
            ("{{ brand|indent(1000) }}", "the filter `indent`"),
            ("{{ brand is sameas brand }}", "the test `sameas`"),
            ("{{ range(10) }}", "calling a function"),
            ("{{ brand.upper() }}", "calling a function"),
            ("{{ brand.x }}", "looking up `.x`"),
            ("{{ brand[0] }}", "looking up an item"),
            ("{{ brand[::-1] }}", "slicing"),
            ("{{ {'a': 1} }}", "a map"),
        ] {
            let e = check(&RULES, source).unwrap_err();
            assert!(e.contains(named), "{source}: {e}");
            assert!(e.contains("is not allowed in a greeting"), "{source}: {e}");
            assert!(
                e.contains("only text, {{ brand }} and {{ attempts_left }}"),
                "{e}"
            );
        }
    }

    #[test]
    fn an_unknown_variable_is_named() {
        let e = check(&RULES, "Hi {{ customer }}").unwrap_err();
        assert_eq!(
            e,
            "unknown variable `customer` (line 1): only {{ brand }} and {{ attempts_left }} can be used"
        );
        let e = check(&RULES, "{% if x %}{% endif %}").unwrap_err();
        assert!(e.contains("unknown variable `x`"), "{e}");
    }

    #[test]
    fn fuel_stops_a_loop_the_check_would_have_refused() {
        // Straight to the environment, past the check: a million iterations, had they run.
        let digits = "{% for d in '0123456789' %}";
        let source = format!("{}x{}", digits.repeat(6), "{% endfor %}".repeat(6));
        let started = std::time::Instant::now();
        let e = environment().render_str(&source, context! {}).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::OutOfFuel);
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        assert_eq!(
            describe(&RULES, &e),
            format!("it takes more than {FUEL} steps to render (line 1)")
        );
    }

    #[test]
    fn the_recursion_limit_stops_nested_frames_the_check_would_have_refused() {
        let source = format!(
            "{}x{}",
            "{% with a = 1 %}".repeat(RECURSION_LIMIT + 1),
            "{% endwith %}".repeat(RECURSION_LIMIT + 1)
        );
        let e = environment().render_str(&source, context! {}).unwrap_err();
        assert!(e.to_string().contains("recursion limit exceeded"), "{e}");
    }

    #[test]
    fn nesting_deeper_than_the_parser_takes_is_refused() {
        let deep = format!("{{{{ {}brand{} }}}}", "(".repeat(500), ")".repeat(500));
        let e = check(&RULES, &deep).unwrap_err();
        assert!(e.contains("maximum recursion"), "{e}");
        let ifs = format!(
            "{}x{}",
            "{% if brand %}".repeat(200),
            "{% endif %}".repeat(200)
        );
        assert!(check(&RULES, &ifs).is_err());
    }

    #[test]
    fn output_stops_at_the_limit() {
        let long = format!("{{{{ brand{} }}}}", " ~ brand".repeat(700));
        assert_eq!(
            render(&long),
            Err("it renders longer than 3000 bytes".to_owned())
        );
        let text = "x".repeat(3001);
        assert_eq!(
            render(&text),
            Err("it renders longer than 3000 bytes".to_owned())
        );
        assert_eq!(render(&"x".repeat(3000)).map(|s| s.len()), Ok(3000));
    }

    #[test]
    fn a_filter_result_past_the_value_limit_is_refused() {
        // `ΐ` (2 bytes) upper-cases to three characters of 2 bytes each.
        let brand = "ΐ".repeat(MAX_VALUE_BYTES / 4);
        let rules = Rules {
            max_output_bytes: 4 * MAX_VALUE_BYTES,
            ..RULES
        };
        let context = || context! { brand => brand.clone(), attempts_left => 1 };
        let e = super::render(&rules, "{{ brand|upper }}", context()).unwrap_err();
        assert!(e.contains("a filter's result is longer"), "{e}");
        assert!(super::render(&rules, "{{ brand|lower }}", context()).is_ok());
    }

    #[test]
    fn the_longest_chains_a_source_can_hold_are_walked_compiled_and_rendered() {
        let links = (MAX_SOURCE_BYTES - 16) / 7;
        let concatenated = format!("{{{{ brand{} }}}}", "~brand".repeat(links));
        let filtered = format!("{{{{ brand{} }}}}", "|upper".repeat(links));
        for source in [concatenated, filtered] {
            assert!(source.len() <= MAX_SOURCE_BYTES);
            // Neither overflows the stack of the check's walk or of minijinja's compiler, and
            // without a loop neither runs out of fuel.
            let checked = Checked::new(
                Rules {
                    max_output_bytes: MAX_VALUE_BYTES,
                    ..RULES
                },
                &source,
            )
            .unwrap();
            let out = checked.render(context! { brand => "b", attempts_left => 1 });
            assert!(out.is_ok(), "{out:?}");
        }
        assert!(check(&RULES, &"x".repeat(MAX_SOURCE_BYTES + 1)).is_err());
    }

    #[tokio::test]
    async fn a_job_runs_off_the_runtime_thread_and_keeps_the_only_turn_until_it_ends() {
        let runtime_thread = std::thread::current().id();
        let (started, job_started) = tokio::sync::oneshot::channel();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let asking = tokio::spawn(off_the_call_path(move || {
            started.send(std::thread::current().id()).unwrap();
            released.recv().unwrap();
        }));
        assert_ne!(job_started.await.unwrap(), runtime_thread);
        assert_eq!(TURNS.available_permits(), 0);
        // The admin's request goes away; the job still runs, and keeps its turn.
        asking.abort();
        assert!(asking.await.unwrap_err().is_cancelled());
        assert_eq!(TURNS.available_permits(), 0);
        release.send(()).unwrap();
        assert_eq!(off_the_call_path(|| 7).await, Ok(7));
        assert_eq!(TURNS.available_permits(), JOBS_AT_ONCE);
    }
}
