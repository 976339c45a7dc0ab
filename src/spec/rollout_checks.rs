//! The rules of `spec.rollout` a JSON Schema cannot express (the schema has already checked
//! types, ranges and the shape of durations when these run).

use std::collections::BTreeMap;
use std::time::Duration;

use super::MLService;
use super::rollout::{Analysis, PLACEHOLDERS, Pause, Step, parse_duration};
use super::schema::Violation;

const ROLLOUT: &str = "/spec/rollout";

/// Checks `spec.rollout` of one deserialized spec; returns every violation.
pub(super) fn check(svc: &MLService) -> Vec<Violation> {
    let mut out = Vec::new();
    let Some(rollout) = &svc.spec.rollout else {
        return out;
    };
    let mut push = |pointer: String, message: String| out.push(Violation { pointer, message });

    if rollout.is_canary() {
        if rollout.steps.is_empty() {
            push(
                format!("{ROLLOUT}/steps"),
                "strategy canary needs at least one step, e.g. `steps: [{weight: 10, pause: 2m}, {pause: {}}]`".into(),
            );
        }
        if svc.spec.replicas == Some(0) {
            push(
                "/spec/replicas".into(),
                "must be at least 1 with spec.rollout.strategy canary: the canary takes its share of the traffic from running pods".into(),
            );
        }
    } else {
        let only_canary =
            "only used by strategy: canary; set spec.rollout.strategy: canary or remove it";
        if !rollout.steps.is_empty() {
            push(format!("{ROLLOUT}/steps"), only_canary.into());
        }
        if rollout.analysis.is_some() {
            push(format!("{ROLLOUT}/analysis"), only_canary.into());
        }
    }
    check_steps(&rollout.steps, &mut push);
    if let Some(a) = &rollout.analysis {
        check_analysis(a, &mut push);
    }
    out
}

fn check_steps(steps: &[Step], push: &mut impl FnMut(String, String)) {
    let mut previous: Option<u8> = None;
    for (i, step) in steps.iter().enumerate() {
        let at = format!("{ROLLOUT}/steps/{i}");
        match (step.weight, previous) {
            (None, None) if i == 0 => push(
                at.clone(),
                "needs a weight: a canary needs a share of the traffic, e.g. `{weight: 10, pause: 2m}`".into(),
            ),
            (Some(w), Some(p)) if w < p => push(
                format!("{at}/weight"),
                format!(
                    "must not be less than the previous step's weight ({p}): weights only grow (a step without weight keeps the previous one)"
                ),
            ),
            _ => {}
        }
        previous = step.weight.or(previous);
        if let Some(Pause::For(text)) = &step.pause {
            match parse_duration(text) {
                None => push(format!("{at}/pause"), unparsable(text)),
                Some(d) if d.is_zero() => push(
                    format!("{at}/pause"),
                    "must be longer than 0s: leave pause out for no minimum, or write {} to wait for `mlsync rollout resume` or `promote`".into(),
                ),
                Some(_) => {}
            }
        }
    }
}

fn check_analysis(a: &Analysis, push: &mut impl FnMut(String, String)) {
    let at = format!("{ROLLOUT}/analysis");
    match parse_duration(&a.interval) {
        None => push(format!("{at}/interval"), unparsable(&a.interval)),
        Some(d) if d < Duration::from_secs(1) => push(
            format!("{at}/interval"),
            format!("must be at least 1s (got {})", a.interval),
        ),
        Some(_) => {}
    }
    match &a.prometheus {
        None if !a.metrics.is_empty() => push(
            at.clone(),
            "needs prometheus to query its metrics, e.g. `prometheus: {address: http://prometheus.monitoring:9090}`".into(),
        ),
        None => {}
        Some(p) => {
            if let Some(problem) = address_problem(&p.address) {
                push(format!("{at}/prometheus/address"), problem);
            }
        }
    }
    let mut first_of: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, m) in a.metrics.iter().enumerate() {
        let at = format!("{at}/metrics/{i}");
        if m.min.is_none() && m.max.is_none() {
            push(
                at.clone(),
                "needs max, min or both: the bounds the metric must stay within, e.g. `max: 0.01`"
                    .into(),
            );
        }
        if let Some(j) = first_of.get(m.name.as_str()) {
            push(
                format!("{at}/name"),
                format!(
                    "duplicate metric `{}`: also spec.rollout.analysis.metrics[{j}]; metric names must be unique within the service",
                    m.name
                ),
            );
        } else {
            first_of.insert(&m.name, i);
        }
        for unknown in unknown_placeholders(&m.query) {
            push(format!("{at}/query"), unknown);
        }
        if let (Some(min), Some(max)) = (m.min, m.max)
            && min > max
        {
            push(
                format!("{at}/min"),
                format!("must not be greater than max ({max}): no value could pass"),
            );
        }
    }
}

fn unparsable(text: &str) -> String {
    format!(
        "`{text}` is not a duration mlsync can use (too large?); write it like 30s, 2m or 1h30m"
    )
}

/// What is wrong with a Prometheus base URL, if anything.
fn address_problem(address: &str) -> Option<String> {
    const EXAMPLE: &str = "e.g. http://prometheus.monitoring:9090";
    let url = match url::Url::parse(address) {
        Ok(url) => url,
        Err(e) => {
            return Some(format!(
                "must be an absolute http:// or https:// URL with a host, {EXAMPLE} ({e})"
            ));
        }
    };
    if !matches!(url.scheme(), "http" | "https") {
        return Some(format!("must start with http:// or https://, {EXAMPLE}"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Some(format!("must name a host, {EXAMPLE}"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Some(
            "must not have a query (?…) or fragment (#…): it is the base URL mlsync adds /api/v1/query to"
                .into(),
        );
    }
    None
}

/// A message for each distinct `{{…}}` in `query` that is not one of [`PLACEHOLDERS`], and for
/// a `{{` that is not closed.
fn unknown_placeholders(query: &str) -> Vec<String> {
    let allowed = || {
        PLACEHOLDERS
            .iter()
            .map(|p| format!("{{{{{p}}}}}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut out = Vec::new();
    let mut rest = query;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push(format!(
                "`{{{{` is not closed with `}}}}`; the placeholders are {}",
                allowed()
            ));
            break;
        };
        let name = &after[..end];
        if !PLACEHOLDERS.contains(&name) {
            let message = format!(
                "unknown placeholder `{{{{{name}}}}}`; the placeholders are {} (written without spaces)",
                allowed()
            );
            if !out.contains(&message) {
                out.push(message);
            }
        }
        rest = &after[end + 2..];
    }
    out
}

#[cfg(test)]
#[path = "rollout_checks_tests.rs"]
mod tests;
