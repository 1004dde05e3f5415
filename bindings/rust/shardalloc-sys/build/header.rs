//! A reader for the public C headers, enough for what they contain: the declarations a C (not
//! C++) compiler sees, with comments stripped, continued lines joined, `#if` branches that need
//! `__cplusplus` dropped (a branch whose condition it cannot decide is kept) and the decoration
//! macros (`mi_decl_*`, `mi_attr_*`, `mi_cdecl`, `__attribute__((...))`) removed. It yields the
//! functions, function types, structs, enums and numeric `#define`s. Anything it cannot read is
//! an error, never a silent omission.

use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Debug)]
pub struct Param {
    /// C type, tokens joined by one space: `const char *`.
    pub ty: String,
    pub name: String,
}

#[derive(Clone, Debug)]
pub struct Function {
    pub header: String,
    pub name: String,
    pub ret: String,
    pub params: Vec<Param>,
    /// Declared `mi_attr_noexcept`: it never throws a C++ exception.
    pub noexcept: bool,
}

#[derive(Clone, Debug)]
pub struct Field {
    pub ty: String,
    pub name: String,
    /// The array bound as written (`MI_STATS_BIN_HUGE + 1`), for array fields.
    pub array: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Struct {
    pub name: String,
    pub fields: Vec<Field>,
}

#[derive(Default, Debug)]
pub struct Api {
    pub functions: Vec<Function>,
    /// Function types (`typedef bool (mi_block_visit_fun)(...)`): name, return type, parameters.
    pub fn_types: Vec<(String, String, Vec<Param>)>,
    pub structs: Vec<Struct>,
    /// Opaque types (`typedef struct mi_heap_s mi_heap_t`).
    pub opaque: BTreeSet<String>,
    /// Plain aliases (`typedef int mi_arena_id_t`): name to C type.
    pub aliases: BTreeMap<String, String>,
    /// Enums by typedef name: enumerators in order with their values.
    pub enums: BTreeMap<String, Vec<(String, i64)>>,
    /// Object-like `#define`s whose value is an integer expression over earlier ones.
    pub defines: BTreeMap<String, i64>,
    /// Every macro name defined (object-like or function-like): stripped from declarations.
    macros: BTreeSet<String>,
}

pub type Result<T> = std::result::Result<T, String>;

impl Api {
    /// Reads `text` (the contents of `header`) and adds what it declares. Headers are read in
    /// include order, so macros of an earlier one are known in a later one.
    pub fn add_header(&mut self, header: &str, text: &str) -> Result<()> {
        let text = strip_comments(text).map_err(|e| format!("{header}: {e}"))?;
        let code = self.c_mode_code(&text).map_err(|e| format!("{header}: {e}"))?;
        for stmt in split_statements(&code).map_err(|e| format!("{header}: {e}"))? {
            self.add_statement(header, &stmt).map_err(|e| format!("{header}: {e}: `{stmt}`"))?;
        }
        Ok(())
    }

    /// The non-directive lines of the branches a C compiler would compile; records macros.
    fn c_mode_code(&mut self, text: &str) -> Result<String> {
        // Per open #if: (this branch is kept, a branch was certainly taken, parent kept).
        let mut stack: Vec<(bool, bool, bool)> = Vec::new();
        let mut code = String::new();
        for line in logical_lines(text) {
            let active = stack.iter().all(|f| f.0 && f.2);
            let trimmed = line.trim_start();
            let Some(directive) = trimmed.strip_prefix('#') else {
                if active {
                    code.push_str(&line);
                }
                code.push('\n');
                continue;
            };
            code.push('\n');
            let directive = directive.trim_start();
            let word: String = directive.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            let rest = directive[word.len()..].trim();
            match word.as_str() {
                "if" | "ifdef" | "ifndef" => {
                    let v = match word.as_str() {
                        "if" => eval_condition(rest)?,
                        "ifdef" => defined(first_word(rest)),
                        _ => defined(first_word(rest)).map(|d| !d),
                    };
                    stack.push((v != Some(false), v == Some(true), active));
                }
                "elif" => {
                    let f = stack.last_mut().ok_or("#elif without #if")?;
                    if f.1 {
                        f.0 = false;
                    } else {
                        let v = eval_condition(rest)?;
                        f.0 = v != Some(false);
                        f.1 = v == Some(true);
                    }
                }
                "else" => {
                    let f = stack.last_mut().ok_or("#else without #if")?;
                    f.0 = !f.1;
                }
                "endif" => {
                    stack.pop().ok_or("#endif without #if")?;
                }
                "define" if active => self.add_define(rest),
                _ => {}
            }
        }
        if !stack.is_empty() {
            return Err("unterminated #if".into());
        }
        Ok(code)
    }

    fn add_define(&mut self, rest: &str) {
        let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        let body = &rest[name.len()..];
        self.macros.insert(name.clone());
        if body.starts_with('(') {
            return; // function-like
        }
        if let Some(v) = eval_int(body.trim(), &self.defines) {
            self.defines.insert(name, v);
        }
    }

    fn add_statement(&mut self, header: &str, stmt: &str) -> Result<()> {
        let toks = tokenize(stmt);
        if toks.is_empty() {
            return Ok(());
        }
        if toks[0] == "typedef" {
            return self.add_typedef(&toks[1..]);
        }
        if toks.iter().any(|t| t == "{") {
            return Err("a definition with a body at file scope".into());
        }
        let noexcept = toks.iter().any(|t| t == "mi_attr_noexcept");
        let mut toks = self.strip_decorations(&toks)?;
        while toks.first().is_some_and(|t| t == "extern" || t == "static" || t == "inline") {
            toks.remove(0);
        }
        let open = match toks.iter().position(|t| t == "(") {
            Some(i) if i >= 2 => i,
            Some(_) => return Err("no return type or name".into()),
            None => return Err("a variable declaration, not a function".into()),
        };
        let close = matching(&toks, open)?;
        if close + 1 != toks.len() {
            return Err(format!("unexpected tokens after the parameters: {:?}", &toks[close + 1..]));
        }
        let name = toks[open - 1].clone();
        if !is_ident(&name) {
            return Err("cannot find the function name".into());
        }
        self.functions.push(Function {
            header: header.to_string(),
            name,
            ret: toks[..open - 1].join(" "),
            params: parse_params(&toks[open + 1..close])?,
            noexcept,
        });
        Ok(())
    }

    fn add_typedef(&mut self, toks: &[String]) -> Result<()> {
        if let Some(open) = toks.iter().position(|t| t == "{") {
            let close = matching_brace(toks, open)?;
            let alias = toks.get(close + 1).ok_or("typedef without a name")?.clone();
            let body = &toks[open + 1..close];
            match toks[0].as_str() {
                "struct" => {
                    let fields = parse_fields(body)?;
                    self.structs.push(Struct { name: alias, fields });
                }
                "enum" => {
                    let values = self.parse_enum(body)?;
                    self.enums.insert(alias, values);
                }
                other => return Err(format!("typedef {other} with a body")),
            }
            return Ok(());
        }
        let toks = self.strip_decorations(toks)?;
        if toks.iter().any(|t| t == "(") {
            // typedef RET (NAME)(PARAMS) or typedef RET (*NAME)(PARAMS)
            let open = toks.iter().position(|t| t == "(").unwrap();
            let close = matching(&toks, open)?;
            let inner: Vec<&String> = toks[open + 1..close].iter().filter(|t| *t != "*").collect();
            if inner.len() != 1 || toks.get(close + 1).map(String::as_str) != Some("(") {
                return Err("unreadable function type".into());
            }
            let pclose = matching(&toks, close + 1)?;
            let params = parse_params(&toks[close + 2..pclose])?;
            self.fn_types.push((inner[0].clone(), toks[..open].join(" "), params));
            return Ok(());
        }
        let name = toks.last().ok_or("empty typedef")?.clone();
        let target = &toks[..toks.len() - 1];
        if target.len() == 2 && (target[0] == "struct" || target[0] == "union") {
            self.opaque.insert(name);
        } else {
            self.aliases.insert(name, target.join(" "));
        }
        Ok(())
    }

    fn parse_enum(&self, body: &[String]) -> Result<Vec<(String, i64)>> {
        let mut values: Vec<(String, i64)> = Vec::new();
        let mut next = 0i64;
        for item in body.split(|t| t == ",").filter(|item| !item.is_empty()) {
            let name = item[0].clone();
            let value = if item.len() >= 3 && item[1] == "=" {
                let expr = item[2..].join(" ");
                let mut known: BTreeMap<String, i64> = self.defines.clone();
                known.extend(values.iter().cloned());
                eval_int(&expr, &known).ok_or(format!("cannot evaluate enumerator {name} = {expr}"))?
            } else if item.len() == 1 {
                next
            } else {
                return Err(format!("unreadable enumerator {item:?}"));
            };
            next = value + 1;
            values.push((name, value));
        }
        Ok(values)
    }

    /// Removes decoration macros (with their arguments) and compiler attributes.
    fn strip_decorations(&self, toks: &[String]) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < toks.len() {
            let t = &toks[i];
            let decoration = t.starts_with("mi_decl_")
                || t.starts_with("mi_attr_")
                || t == "mi_cdecl"
                || t == "__attribute__"
                || t == "__declspec"
                || (self.macros.contains(t.as_str()) && !self.defines.contains_key(t.as_str()));
            if decoration {
                i += 1;
                if toks.get(i).map(String::as_str) == Some("(") {
                    i = matching(toks, i)? + 1;
                }
                continue;
            }
            out.push(t.clone());
            i += 1;
        }
        Ok(out)
    }
}

fn first_word(s: &str) -> &str {
    s.split_whitespace().next().unwrap_or("")
}

/// Whether a macro is defined, as far as C mode knows: `__cplusplus` is not, others unknown.
fn defined(name: &str) -> Option<bool> {
    if name == "__cplusplus" {
        Some(false)
    } else {
        None
    }
}

fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Removes `/* */` and `//` comments (keeping line breaks), leaving literals alone.
fn strip_comments(text: &str) -> Result<String> {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
            let end = text[i + 2..].find("*/").ok_or("unterminated /* comment")? + i + 2;
            out.push(' ');
            out.extend(std::iter::repeat('\n').take(text[i..end].matches('\n').count()));
            i = end + 2;
        } else if b[i] == b'/' && b.get(i + 1) == Some(&b'/') {
            i = text[i..].find('\n').map_or(b.len(), |n| i + n);
        } else if b[i] == b'"' || b[i] == b'\'' {
            // a literal ends at its quote or, unterminated (an apostrophe in #error), at the line end
            let quote = b[i];
            let mut j = i + 1;
            while j < b.len() && b[j] != quote && b[j] != b'\n' {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            if j < b.len() && b[j] == quote {
                j += 1;
            }
            let j = j.min(b.len());
            out.push_str(&text[i..j]);
            i = j;
        } else {
            let c = text[i..].chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    Ok(out)
}

/// Lines with backslash continuations joined.
fn logical_lines(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = String::new();
    for line in text.split('\n') {
        if let Some(head) = line.strip_suffix('\\') {
            cur.push_str(head);
            cur.push(' ');
        } else {
            cur.push_str(line);
            lines.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    lines
}

/// Top-level statements ending in `;` (braces keep their insides in the statement).
fn split_statements(code: &str) -> Result<Vec<String>> {
    let mut stmts = Vec::new();
    let mut cur = String::new();
    let mut depth = 0i32;
    for c in code.chars() {
        cur.push(c);
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth < 0 {
                    return Err("unbalanced '}'".into());
                }
            }
            ';' if depth == 0 => {
                let s = cur.trim().trim_end_matches(';').trim().to_string();
                stmts.push(s.split_whitespace().collect::<Vec<_>>().join(" "));
                cur.clear();
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err("unbalanced '{'".into());
    }
    if !cur.trim().is_empty() {
        return Err(format!("text after the last ';': {}", cur.trim()));
    }
    Ok(stmts)
}

fn tokenize(s: &str) -> Vec<String> {
    let mut toks = Vec::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            toks.push(chars[start..i].iter().collect());
        } else if c == '"' {
            let start = i;
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i = (i + 1).min(chars.len());
            toks.push(chars[start..i].iter().collect());
        } else if c == '.' && chars.get(i + 1) == Some(&'.') && chars.get(i + 2) == Some(&'.') {
            toks.push("...".into());
            i += 3;
        } else {
            toks.push(c.to_string());
            i += 1;
        }
    }
    toks
}

fn matching(toks: &[String], open: usize) -> Result<usize> {
    matching_pair(toks, open, "(", ")")
}

fn matching_brace(toks: &[String], open: usize) -> Result<usize> {
    matching_pair(toks, open, "{", "}")
}

fn matching_pair(toks: &[String], open: usize, o: &str, c: &str) -> Result<usize> {
    let mut depth = 0;
    for (i, t) in toks.iter().enumerate().skip(open) {
        if t == o {
            depth += 1;
        } else if t == c {
            depth -= 1;
            if depth == 0 {
                return Ok(i);
            }
        }
    }
    Err(format!("unbalanced '{o}'"))
}

/// `T name, U* other` (or `void`) as parameters; every parameter must be named.
fn parse_params(toks: &[String]) -> Result<Vec<Param>> {
    if toks.is_empty() || (toks.len() == 1 && toks[0] == "void") {
        return Ok(Vec::new());
    }
    let mut params = Vec::new();
    let mut depth = 0;
    let mut cur: Vec<String> = Vec::new();
    for t in toks.iter().chain(std::iter::once(&",".to_string())) {
        match t.as_str() {
            "(" => depth += 1,
            ")" => depth -= 1,
            _ => {}
        }
        if t == "," && depth == 0 {
            if cur.len() < 2 || !is_ident(cur.last().unwrap()) {
                return Err(format!("unnamed or unreadable parameter {cur:?}"));
            }
            let name = cur.pop().unwrap();
            params.push(Param { ty: cur.join(" "), name });
            cur.clear();
        } else {
            cur.push(t.clone());
        }
    }
    Ok(params)
}

fn parse_fields(body: &[String]) -> Result<Vec<Field>> {
    let mut fields = Vec::new();
    for decl in body.split(|t| t == ";").filter(|d| !d.is_empty()) {
        let (decl, array) = match decl.iter().position(|t| t == "[") {
            Some(i) => {
                if decl.last().map(String::as_str) != Some("]") {
                    return Err(format!("unreadable array field {decl:?}"));
                }
                (&decl[..i], Some(decl[i + 1..decl.len() - 1].join(" ")))
            }
            None => (decl, None),
        };
        if decl.len() < 2 || !is_ident(decl.last().unwrap()) || decl.iter().any(|t| t == ",") {
            return Err(format!("unreadable field {decl:?} (one field per declaration)"));
        }
        fields.push(Field {
            ty: decl[..decl.len() - 1].join(" "),
            name: decl.last().unwrap().clone(),
            array,
        });
    }
    Ok(fields)
}

// ------------------------------------------------------------------------------------------
// Integer expressions: #if conditions (three-valued: unknown macros) and #define values.

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Num(i64),
    Id(String),
    Op(String),
}

fn expr_tokens(s: &str) -> Option<Vec<Tok>> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_alphanumeric() {
                i += 1;
            }
            let lit: String = chars[start..i].iter().collect();
            let digits = lit.trim_end_matches(['u', 'U', 'l', 'L']);
            let v = if let Some(hex) = digits.strip_prefix("0x").or_else(|| digits.strip_prefix("0X")) {
                i64::from_str_radix(hex, 16).ok()?
            } else {
                digits.parse().ok()?
            };
            out.push(Tok::Num(v));
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(Tok::Id(chars[start..i].iter().collect()));
        } else {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            if ["&&", "||", "==", "!=", ">=", "<=", "<<", ">>"].contains(&two.as_str()) {
                out.push(Tok::Op(two));
                i += 2;
            } else if "!()<>+-*/%".contains(c) {
                out.push(Tok::Op(c.to_string()));
                i += 1;
            } else {
                return None;
            }
        }
    }
    Some(out)
}

/// Evaluates an #if condition: Some(true/false) when C mode decides it, None when it depends on
/// something unknown (the branch is then kept).
fn eval_condition(expr: &str) -> Result<Option<bool>> {
    let toks = expr_tokens(expr).ok_or_else(|| format!("cannot read #if {expr}"))?;
    let mut p = Parser { toks, pos: 0, known: None };
    let v = p.or()?;
    if p.pos != p.toks.len() {
        return Err(format!("trailing tokens in #if {expr}"));
    }
    Ok(v.map(|v| v != 0))
}

/// Evaluates a #define body or enumerator value over known names; None if it is not an integer
/// expression of known values.
fn eval_int(expr: &str, known: &BTreeMap<String, i64>) -> Option<i64> {
    let mut expr = expr.trim();
    // a cast to a size type around the whole value, e.g. ((size_t)1 << 20), is not needed here
    while expr.starts_with('(') && expr.ends_with(')') && balanced(&expr[1..expr.len() - 1]) {
        expr = expr[1..expr.len() - 1].trim();
    }
    let toks = expr_tokens(expr)?;
    if toks.is_empty() {
        return None;
    }
    let mut p = Parser { toks, pos: 0, known: Some(known) };
    match p.or() {
        Ok(Some(v)) if p.pos == p.toks.len() => Some(v),
        _ => None,
    }
}

fn balanced(s: &str) -> bool {
    let mut depth = 0;
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => {}
        }
    }
    depth == 0
}

struct Parser<'a> {
    toks: Vec<Tok>,
    pos: usize,
    /// Some: a value expression over these names (anything else fails); None: an #if condition.
    known: Option<&'a BTreeMap<String, i64>>,
}

type Val = Result<Option<i64>>;

impl Parser<'_> {
    fn peek_op(&self, op: &str) -> bool {
        matches!(self.toks.get(self.pos), Some(Tok::Op(o)) if o == op)
    }

    fn expect(&mut self, op: &str) -> Result<()> {
        if self.peek_op(op) {
            self.pos += 1;
            Ok(())
        } else {
            Err(format!("expected '{op}'"))
        }
    }

    fn or(&mut self) -> Val {
        let mut v = self.and()?;
        while self.peek_op("||") {
            self.pos += 1;
            let w = self.and()?;
            v = match (v, w) {
                (Some(a), _) if a != 0 => Some(1),
                (_, Some(b)) if b != 0 => Some(1),
                (Some(_), Some(_)) => Some(0),
                _ => None,
            };
        }
        Ok(v)
    }

    fn and(&mut self) -> Val {
        let mut v = self.cmp()?;
        while self.peek_op("&&") {
            self.pos += 1;
            let w = self.cmp()?;
            v = match (v, w) {
                (Some(0), _) | (_, Some(0)) => Some(0),
                (Some(_), Some(_)) => Some(1),
                _ => None,
            };
        }
        Ok(v)
    }

    fn cmp(&mut self) -> Val {
        let mut v = self.shift()?;
        loop {
            let op = match self.toks.get(self.pos) {
                Some(Tok::Op(o)) if ["==", "!=", ">=", "<=", ">", "<"].contains(&o.as_str()) => o.clone(),
                _ => return Ok(v),
            };
            self.pos += 1;
            let w = self.shift()?;
            v = match (v, w) {
                (Some(a), Some(b)) => Some(i64::from(match op.as_str() {
                    "==" => a == b,
                    "!=" => a != b,
                    ">=" => a >= b,
                    "<=" => a <= b,
                    ">" => a > b,
                    _ => a < b,
                })),
                _ => None,
            };
        }
    }

    fn shift(&mut self) -> Val {
        let mut v = self.add()?;
        while self.peek_op("<<") || self.peek_op(">>") {
            let left = self.peek_op("<<");
            self.pos += 1;
            let w = self.add()?;
            v = match (v, w) {
                (Some(a), Some(b)) if (0..63).contains(&b) => Some(if left { a << b } else { a >> b }),
                _ => None,
            };
        }
        Ok(v)
    }

    fn add(&mut self) -> Val {
        let mut v = self.mul()?;
        while self.peek_op("+") || self.peek_op("-") {
            let plus = self.peek_op("+");
            self.pos += 1;
            let w = self.mul()?;
            v = match (v, w) {
                (Some(a), Some(b)) => Some(if plus { a + b } else { a - b }),
                _ => None,
            };
        }
        Ok(v)
    }

    fn mul(&mut self) -> Val {
        let mut v = self.unary()?;
        while self.peek_op("*") || self.peek_op("/") || self.peek_op("%") {
            let op = match &self.toks[self.pos] {
                Tok::Op(o) => o.clone(),
                _ => unreachable!(),
            };
            self.pos += 1;
            let w = self.unary()?;
            v = match (v, w) {
                (Some(a), Some(b)) if op == "*" => Some(a * b),
                (Some(a), Some(b)) if b != 0 && op == "/" => Some(a / b),
                (Some(a), Some(b)) if b != 0 => Some(a % b),
                _ => None,
            };
        }
        Ok(v)
    }

    fn unary(&mut self) -> Val {
        if self.peek_op("!") {
            self.pos += 1;
            return Ok(self.unary()?.map(|v| i64::from(v == 0)));
        }
        if self.peek_op("-") {
            self.pos += 1;
            return Ok(self.unary()?.map(|v| -v));
        }
        if self.peek_op("(") {
            self.pos += 1;
            let v = self.or()?;
            self.expect(")")?;
            return Ok(v);
        }
        match self.toks.get(self.pos).cloned() {
            Some(Tok::Num(n)) => {
                self.pos += 1;
                Ok(Some(n))
            }
            Some(Tok::Id(id)) => {
                self.pos += 1;
                if let Some(known) = self.known {
                    return known.get(&id).copied().map(Some).ok_or_else(|| format!("unknown {id}"));
                }
                if id == "defined" {
                    let paren = self.peek_op("(");
                    if paren {
                        self.pos += 1;
                    }
                    let name = match self.toks.get(self.pos) {
                        Some(Tok::Id(n)) => n.clone(),
                        _ => return Err("defined without a name".into()),
                    };
                    self.pos += 1;
                    if paren {
                        self.expect(")")?;
                    }
                    return Ok(defined(&name).map(i64::from));
                }
                if id == "__cplusplus" {
                    return Ok(Some(0)); // an undefined name in #if reads as 0
                }
                if self.peek_op("(") {
                    // a function-like macro such as __has_attribute(x): unknown
                    let mut depth = 0;
                    while let Some(t) = self.toks.get(self.pos) {
                        self.pos += 1;
                        if *t == Tok::Op("(".into()) {
                            depth += 1;
                        } else if *t == Tok::Op(")".into()) {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                    }
                }
                Ok(None)
            }
            other => Err(format!("unexpected {other:?}")),
        }
    }
}
