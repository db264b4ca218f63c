//! `spatialscope grid encode|decode`: the action tokenizer on the command line, so scripts
//! and notebooks can check their own pipelines against ours.
//!
//! Input is read from a reader (stdin in the binary): encode takes actions as JSON (one
//! 7-array per line, or one JSON array of 7-arrays); decode takes one id sequence per line
//! (whitespace/comma separated, or a JSON array). A line of exactly 3 ids is one step; any
//! other line is a generation decoded as a chunk of the checkpoint's chunk size. Bad lines
//! are reported with their line number and the rest still run.

use std::io::BufRead;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::action_grid::{ActionStatistics, ProcessorConfig, decode_chunk};

/// Options shared by encode and decode.
pub struct GridOptions<'a> {
    pub config: &'a ProcessorConfig,
    /// Statistics for raw actions; `None` with `--normalized`.
    pub stats: Option<&'a ActionStatistics>,
    pub json: bool,
}

/// One input item with the line it came from (1-based).
type Lines = Vec<(usize, String)>;

fn read_lines(input: impl BufRead) -> Result<Lines> {
    let mut out = Vec::new();
    for (i, line) in input.lines().enumerate() {
        let line = line.context("reading input")?;
        if !line.trim().is_empty() {
            out.push((i + 1, line));
        }
    }
    Ok(out)
}

fn parse_actions(lines: &Lines) -> Vec<(usize, Result<Vec<f64>>)> {
    let whole: String = lines
        .iter()
        .map(|(_, l)| l.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    let as_number_list = |v: &Value| -> Result<Vec<f64>> {
        v.as_array()
            .context("expected a JSON array of numbers")?
            .iter()
            .map(|x| x.as_f64().context("expected a number"))
            .collect()
    };
    // One JSON array of arrays?
    if let Ok(Value::Array(items)) = serde_json::from_str::<Value>(&whole)
        && items.first().is_some_and(Value::is_array)
    {
        return items
            .iter()
            .enumerate()
            .map(|(i, v)| (i + 1, as_number_list(v)))
            .collect();
    }
    lines
        .iter()
        .map(|(n, l)| {
            let text = crate::util::json::non_finite_tokens_to_null(l);
            let parsed = serde_json::from_str::<Value>(&text)
                .context("not JSON")
                .and_then(|v| {
                    // A `null` stands for a NaN/Infinity token: report it as non-finite.
                    match v.as_array() {
                        Some(a) if a.iter().any(Value::is_null) => {
                            Ok(a.iter().map(|x| x.as_f64().unwrap_or(f64::NAN)).collect())
                        }
                        _ => as_number_list(&v),
                    }
                });
            (*n, parsed)
        })
        .collect()
}

/// Runs `grid encode`; returns the output text and the number of failed lines.
pub fn encode(input: impl BufRead, o: &GridOptions<'_>) -> Result<(String, usize)> {
    let lines = read_lines(input)?;
    let mut out = String::new();
    let mut failed = 0;
    for (line, parsed) in parse_actions(&lines) {
        let result = parsed.and_then(|a| {
            let n = match o.stats {
                Some(s) => s.normalize(&a)?,
                None => crate::action_grid::check_action(&a)?,
            };
            let bins = o.config.grid.encode(&n)?;
            Ok((a, n, bins))
        });
        match result {
            Ok((a, n, bins)) => {
                let ids = o.config.layout.ids(&bins);
                if o.json {
                    let obj = json!({
                        "line": line,
                        "token_ids": ids,
                        "tokens": o.config.layout.strings(&bins),
                        "bins": bins,
                        "action": a,
                        "normalized_action": n,
                    });
                    out.push_str(&obj.to_string());
                } else {
                    out.push_str(&ids.map(|i| i.to_string()).join(" "));
                }
                out.push('\n');
            }
            Err(e) => {
                failed += 1;
                out.push_str(&error_line(o.json, line, &e.to_string()));
            }
        }
    }
    Ok((out, failed))
}

fn error_line(json: bool, line: usize, message: &str) -> String {
    if json {
        format!("{}\n", json!({ "line": line, "error": message }))
    } else {
        format!("# line {line}: error: {message}\n")
    }
}

fn parse_ids(line: &str) -> Result<Vec<i64>> {
    let t = line.trim();
    if t.starts_with('[') {
        let v: Vec<i64> = serde_json::from_str(t).context("expected a JSON array of integers")?;
        return Ok(v);
    }
    t.split(|c: char| c.is_whitespace() || c == ',')
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<i64>()
                .with_context(|| format!("`{s}` is not an integer id"))
        })
        .collect()
}

/// Runs `grid decode`; returns the output text and the number of failed lines.
pub fn decode(input: impl BufRead, o: &GridOptions<'_>) -> Result<(String, usize)> {
    let lines = read_lines(input)?;
    let mut out = String::new();
    let mut failed = 0;
    for (line, text) in &lines {
        let result = parse_ids(text).and_then(|ids| {
            let chunk = if ids.len() == 3 {
                1
            } else {
                o.config.chunk_size
            };
            Ok(decode_chunk(
                &ids,
                &o.config.grid,
                &o.config.layout,
                o.stats,
                chunk,
            )?)
        });
        match result {
            Ok(d) => {
                let actions = d.actions.clone().unwrap_or_else(|| d.normalized.clone());
                if o.json {
                    let obj = json!({
                        "line": line,
                        "token_ids": d.action_ids,
                        "action": actions,
                        "normalized": o.stats.is_none(),
                        "issues": d.issues,
                    });
                    out.push_str(&obj.to_string());
                    out.push('\n');
                } else {
                    for a in &actions {
                        out.push_str(&a.map(|v| format!("{v}")).join(" "));
                        out.push('\n');
                    }
                    for issue in &d.issues {
                        out.push_str(&format!("# line {line}: malformed: {issue}\n"));
                    }
                }
            }
            Err(e) => {
                failed += 1;
                out.push_str(&error_line(o.json, *line, &e.to_string()));
            }
        }
    }
    Ok((out, failed))
}

/// Loads the checkpoint and picks the statistics (`--normalized` needs none).
pub fn load(
    grid: &std::path::Path,
    unnorm_key: Option<&str>,
    normalized: bool,
) -> Result<(ProcessorConfig, Option<String>)> {
    let config = ProcessorConfig::load(grid)
        .with_context(|| format!("cannot read the grid from {}", grid.display()))?;
    let key = match (normalized, unnorm_key) {
        (true, _) => None,
        (false, Some(k)) => {
            config.stats(k)?;
            Some(k.to_owned())
        }
        (false, None) => bail!(
            "--unnorm-key is required for raw actions (or pass --normalized); known keys: {}",
            config
                .statistics
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    Ok((config, key))
}
