//! The doctor's report as Markdown (for a pull request or an issue) and as one
//! self-contained HTML page (for a colleague's browser): no scripts, no external files; the
//! charts are PNGs drawn by [`super::charts`] and embedded as `data:` URIs, the finding
//! counts are CSS bars. Everything taken from a dataset (names, instructions, reasons) is
//! escaped.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::pipeline::doctor::{DatasetHealth, DoctorReport, Finding, Severity};

use super::charts::BarChart;

/// Markdown: a summary table, then per dataset its findings and keep list.
pub fn markdown(r: &DoctorReport) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# spatialscope doctor: {}\n", md(&r.path));
    let _ = writeln!(
        s,
        "Grid and statistics: `{}`. Fails on: **{}**. Exit code: **{}**.\n",
        md(&r.grid),
        r.fail_on.label(),
        r.exit_code
    );
    for p in &r.problems {
        let _ = writeln!(s, "- could not open: {}", md(p));
    }
    let _ = writeln!(
        s,
        "| dataset | format | episodes | steps | errors | warnings | info | kept |\n|---|---|---:|---:|---:|---:|---:|---:|"
    );
    for d in &r.datasets {
        let _ = writeln!(
            s,
            "| {} | {:?} | {} | {} | {} | {} | {} | {} |",
            md(&d.dataset),
            d.format,
            d.episodes,
            d.steps,
            d.errors,
            d.warnings,
            d.infos,
            d.keep.len()
        );
    }
    for d in &r.datasets {
        let _ = writeln!(s, "\n## {}\n", md(&d.dataset));
        let _ = writeln!(s, "`{}`, statistics: {}\n", md(&d.root), md(&d.statistics));
        if d.findings.is_empty() {
            let _ = writeln!(s, "No findings.");
        } else {
            let _ = writeln!(
                s,
                "| severity | check | episodes | steps | reason |\n|---|---|---|---|---|"
            );
            for f in &d.findings {
                let _ = writeln!(
                    s,
                    "| {} | `{}` | {} | {} | {} |",
                    f.severity.label(),
                    f.check,
                    episodes_text(&f.episodes),
                    f.steps
                        .map(|(a, b)| format!("{a}..{b}"))
                        .unwrap_or_default(),
                    md(&f.reason)
                );
            }
        }
        let _ = writeln!(
            s,
            "\nKeep ({} of {}): {}",
            d.keep.len(),
            d.episodes,
            list(&d.keep)
        );
        let drop = d.dropped();
        if !drop.is_empty() {
            let _ = writeln!(
                s,
                "\nTo drop the others with LeRobot: `lerobot-edit-dataset --operation.type delete_episodes --operation.episode_indices \"{}\"`",
                py_list(&drop)
            );
        }
    }
    s
}

/// `[0, 2, 5]`, the form LeRobot's tools take.
pub fn py_list(v: &[usize]) -> String {
    format!("[{}]", joined(v, ", "))
}

fn joined(v: &[usize], sep: &str) -> String {
    v.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(sep)
}

fn list(v: &[usize]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        joined(v, " ")
    }
}

/// At most 20 episodes written out, then a count.
fn episodes_text(v: &[usize]) -> String {
    if v.is_empty() {
        return "all".into();
    }
    let shown: Vec<String> = v.iter().take(20).map(ToString::to_string).collect();
    if v.len() > 20 {
        format!("{} and {} more", shown.join(" "), v.len() - 20)
    } else {
        shown.join(" ")
    }
}

/// Markdown table cells: pipes and line breaks would break the table.
fn md(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

fn html_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}\
h1{font-size:1.5em}h2{margin-top:2em;border-bottom:1px solid #ccc}\
table{border-collapse:collapse;width:100%;margin:.5em 0}td,th{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}\
th{background:#f3f3f3}.error{color:#b00020;font-weight:600}.warning{color:#a15c00;font-weight:600}.info{color:#2a5db0}\
.bar{display:inline-block;height:12px;background:#4a7fc0;vertical-align:middle}\
.bar.error{background:#c0392b}.bar.warning{background:#e08e0b}.bar.info{background:#6c8ebf}\
code{background:#f4f4f4;padding:1px 4px}img{max-width:100%}.charts img{width:49%}";

/// One self-contained HTML page.
pub fn html(r: &DoctorReport) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>spatialscope doctor: {}</title><style>{STYLE}</style></head><body>",
        html_escape(&r.path)
    );
    let _ = write!(
        s,
        "<h1>spatialscope doctor: {}</h1><p>Grid and statistics: <code>{}</code>. Fails on <b>{}</b>; exit code <b>{}</b>.</p>",
        html_escape(&r.path),
        html_escape(&r.grid),
        r.fail_on.label(),
        r.exit_code
    );
    for p in &r.problems {
        let _ = write!(
            s,
            "<p class=\"error\">Could not open: {}</p>",
            html_escape(p)
        );
    }
    s.push_str("<table><tr><th>dataset</th><th>format</th><th>episodes</th><th>steps</th><th>errors</th><th>warnings</th><th>info</th><th>kept</th></tr>");
    for d in &r.datasets {
        let _ = write!(
            s,
            "<tr><td><a href=\"#{}\">{}</a></td><td>{:?}</td><td>{}</td><td>{}</td><td class=\"error\">{}</td><td class=\"warning\">{}</td><td class=\"info\">{}</td><td>{}</td></tr>",
            anchor(&d.dataset),
            html_escape(&d.dataset),
            d.format,
            d.episodes,
            d.steps,
            d.errors,
            d.warnings,
            d.infos,
            d.keep.len()
        );
    }
    s.push_str("</table>");
    for d in &r.datasets {
        dataset_html(&mut s, d);
    }
    s.push_str("</body></html>\n");
    s
}

fn anchor(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

fn dataset_html(s: &mut String, d: &DatasetHealth) {
    let _ = write!(
        s,
        "<h2 id=\"{}\">{}</h2><p><code>{}</code> &middot; statistics: {} &middot; {} episodes, {} steps</p>",
        anchor(&d.dataset),
        html_escape(&d.dataset),
        html_escape(&d.root),
        html_escape(&d.statistics),
        d.episodes,
        d.steps
    );
    // Findings per check, as bars of episodes concerned.
    let mut per_check: BTreeMap<(std::cmp::Reverse<Severity>, &str), usize> = BTreeMap::new();
    for f in &d.findings {
        *per_check
            .entry((std::cmp::Reverse(f.severity), f.check))
            .or_default() += f.episodes.len().max(1);
    }
    if !per_check.is_empty() {
        let most = per_check.values().copied().max().unwrap_or(1).max(1);
        s.push_str("<h3>Findings by check</h3><table><tr><th>check</th><th>severity</th><th>episodes (or dataset-wide findings)</th></tr>");
        for ((sev, check), n) in &per_check {
            let _ = write!(
                s,
                "<tr><td><code>{check}</code></td><td class=\"{0}\">{0}</td><td><span class=\"bar {0}\" style=\"width:{1}px\"></span> {n}</td></tr>",
                sev.0.label(),
                (300 * n / most).max(2)
            );
        }
        s.push_str("</table>");
    }
    if let Some(dist) = &d.distribution {
        s.push_str("<h3>Actions</h3><div class=\"charts\">");
        for dim in &dist.dimensions {
            let chart = BarChart {
                title: format!(
                    "{}: raw (mean {:+.4}, std {:.4})",
                    dim.name, dim.mean, dim.std
                ),
                x_label: "raw value".to_owned(),
                bars: dim
                    .raw_histogram
                    .counts
                    .iter()
                    .enumerate()
                    .map(|(i, &c)| (dim.raw_histogram.centre(i), c as f64))
                    .collect(),
                bar_width: (dim.raw_histogram.hi - dim.raw_histogram.lo)
                    / dim.raw_histogram.counts.len().max(1) as f64,
                bar_colour: [70, 120, 190],
                vlines: Vec::new(),
                hlines: Vec::new(),
            };
            if let Some(uri) = png_data_uri(&chart) {
                let _ = write!(s, "<img alt=\"{} histogram\" src=\"{uri}\">", dim.name);
            }
        }
        s.push_str("</div>");
    }
    if d.findings.is_empty() {
        s.push_str("<p>No findings.</p>");
    } else {
        s.push_str("<h3>Findings</h3><table><tr><th>severity</th><th>check</th><th>episodes</th><th>steps</th><th>dimensions</th><th>reason</th></tr>");
        for f in &d.findings {
            finding_row(s, f);
        }
        s.push_str("</table>");
    }
    let _ = write!(
        s,
        "<h3>Keep list</h3><p>{} of {} episodes pass (no warning or error): <code>{}</code></p>",
        d.keep.len(),
        d.episodes,
        html_escape(&py_list(&d.keep))
    );
    let drop = d.dropped();
    if !drop.is_empty() {
        let _ = write!(
            s,
            "<p>Drop the others with LeRobot: <code>lerobot-edit-dataset --operation.type delete_episodes --operation.episode_indices \"{}\"</code></p>",
            html_escape(&py_list(&drop))
        );
    }
}

fn finding_row(s: &mut String, f: &Finding) {
    let _ = write!(
        s,
        "<tr><td class=\"{0}\">{0}</td><td><code>{1}</code></td><td>{2}</td><td>{3}</td><td>{4}</td><td>{5}</td></tr>",
        f.severity.label(),
        f.check,
        html_escape(&episodes_text(&f.episodes)),
        f.steps
            .map(|(a, b)| format!("{a}..{b}"))
            .unwrap_or_default(),
        html_escape(&f.dims.join(", ")),
        html_escape(&f.reason)
    );
}

fn png_data_uri(chart: &BarChart) -> Option<String> {
    let img = chart.render(640, 360);
    let mut bytes = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Png,
    )
    .ok()?;
    Some(format!("data:image/png;base64,{}", base64(&bytes)))
}

/// Standard base64 with padding (RFC 4648).
fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut o = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        o.push(T[(n >> 18) as usize & 63] as char);
        o.push(T[(n >> 12) as usize & 63] as char);
        o.push(if c.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        o.push(if c.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }

    #[test]
    fn dataset_text_is_escaped() {
        assert_eq!(
            html_escape("<b>\"x\" & 'y'</b>"),
            "&lt;b&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/b&gt;"
        );
        assert_eq!(md("a|b\nc"), "a\\|b c");
    }
}
