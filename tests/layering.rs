//! The module picture of `src/` (see `src/lib.rs`): no import cycle between top-level modules,
//! and the command-line crates `clap` and `anyhow` only under `src/cli/`.
//!
//! A scan of the sources, not of the compiled crate: every `crate::X` path (and every name of a
//! `crate::{X, Y::…}` group) in a file under `src/M/` or in `src/M.rs` is an edge M → X.
//! Comments are skipped; test modules inside `src/` count like any other code.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file below `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules: `src/M.rs` and `src/M/`, without `lib.rs` and `main.rs`.
fn top_modules() -> BTreeSet<String> {
    std::fs::read_dir(src())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|p| {
            let name = p.file_name()?.to_str()?.to_owned();
            if p.is_dir() {
                Some(name)
            } else {
                name.strip_suffix(".rs").map(str::to_owned)
            }
        })
        .filter(|m| m != "lib" && m != "main")
        .collect()
}

/// The source without comment lines (`//`, `//!`, `///`) and trailing `// …` comments.
fn code(text: &str) -> String {
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .map(|l| match l.find(" // ") {
            Some(i) if !l[..i].contains('"') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn ident_at(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// The top-level names a file refers to through `crate::`.
fn crate_refs(code: &str) -> BTreeSet<String> {
    let mut refs = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // `crate::{a, b::c, d::{e, f}}`: the names at depth 1.
            let mut depth = 1;
            let mut start = true;
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 1 => break,
                    '}' => depth -= 1,
                    ',' if depth == 1 => start = true,
                    c if start && (c.is_ascii_alphabetic() || c == '_') => {
                        refs.insert(ident_at(&group[j..]).to_owned());
                        start = false;
                    }
                    _ => {}
                }
            }
        } else {
            refs.insert(ident_at(rest).to_owned());
        }
    }
    refs
}

/// Whether `word` occurs in `code` as a whole identifier.
fn uses_word(code: &str, word: &str) -> bool {
    code.match_indices(word).any(|(i, _)| {
        let before = code[..i].chars().next_back();
        let after = code[i + word.len()..].chars().next();
        let ident = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        !ident(before) && !ident(after)
    })
}

/// The top-level module a file belongs to, if any.
fn module_of(file: &Path, tops: &BTreeSet<String>) -> Option<String> {
    let rel = file.strip_prefix(src()).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    tops.contains(name).then(|| name.to_owned())
}

/// The edges M → X with, for each, one file that makes it.
fn graph() -> BTreeMap<String, BTreeMap<String, PathBuf>> {
    let tops = top_modules();
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut edges: BTreeMap<String, BTreeMap<String, PathBuf>> = BTreeMap::new();
    for file in files {
        let Some(from) = module_of(&file, &tops) else {
            continue;
        };
        let code = code(&std::fs::read_to_string(&file).unwrap());
        for to in crate_refs(&code) {
            if to != from && tops.contains(&to) {
                edges
                    .entry(from.clone())
                    .or_default()
                    .entry(to)
                    .or_insert_with(|| file.clone());
            }
        }
    }
    edges
}

/// A cycle through `start`, as the list of modules on it, if there is one.
fn cycle_from(
    edges: &BTreeMap<String, BTreeMap<String, PathBuf>>,
    start: &str,
) -> Option<Vec<String>> {
    let mut stack = vec![vec![start.to_owned()]];
    let mut seen = BTreeSet::new();
    while let Some(path) = stack.pop() {
        let last = path.last()?.clone();
        for next in edges.get(&last).into_iter().flat_map(|m| m.keys()) {
            if next == start {
                let mut cycle = path.clone();
                cycle.push(next.clone());
                return Some(cycle);
            }
            if seen.insert(next.clone()) {
                let mut longer = path.clone();
                longer.push(next.clone());
                stack.push(longer);
            }
        }
    }
    None
}

#[test]
fn top_level_modules_import_no_cycle() {
    let edges = graph();
    assert!(
        edges.get("cli").is_some_and(|m| m.contains_key("daemon")),
        "the scan must see cli -> daemon: {edges:?}"
    );
    let mut cycles = Vec::new();
    for start in edges.keys() {
        if let Some(cycle) = cycle_from(&edges, start) {
            let shown: Vec<String> = cycle
                .windows(2)
                .map(|w| format!("{} -> {} ({})", w[0], w[1], edges[&w[0]][&w[1]].display()))
                .collect();
            cycles.push(shown.join(", "));
        }
    }
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

#[test]
fn clap_and_anyhow_only_under_cli() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let cli = src().join("cli");
    let mut offenders = Vec::new();
    for file in files.iter().filter(|f| !f.starts_with(&cli)) {
        let code = code(&std::fs::read_to_string(file).unwrap());
        for word in ["clap", "anyhow"] {
            if uses_word(&code, word) {
                offenders.push(format!("{} uses {word}", file.display()));
            }
        }
    }
    assert!(
        files.iter().any(|f| f.starts_with(&cli)),
        "no files under {}",
        cli.display()
    );
    assert!(offenders.is_empty(), "{}", offenders.join("\n"));
}

#[test]
fn the_scan_sees_groups_and_paths() {
    let refs = crate_refs("use crate::{a::{b, c}, d};\nlet x = crate::e::f();\nuse crate::g;");
    let want: BTreeSet<String> = ["a", "d", "e", "g"].map(str::to_owned).into();
    assert_eq!(refs, want);
    assert!(uses_word("use clap::Parser;", "clap"));
    assert!(!uses_word("let clapper = 1;", "clap"));
    assert_eq!(code("a // b\n// c\nd"), "a\nd");
}
