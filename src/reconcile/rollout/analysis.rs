//! One check of a canary's metrics: each query asked of Prometheus with the service's
//! placeholders filled in, each answer judged against its bounds ([`judge`] is pure).

use tracing::warn;

use super::Track;
use super::prometheus::{Prometheus, PrometheusError, Sample};
use super::state::{MetricResult, Verdict};
use crate::spec::rollout::{Analysis, Metric};

/// Fills in `{{service}}`, `{{namespace}}` and `{{track}}`.
pub fn query_for(metric: &Metric, service: &str, namespace: &str, track: Track) -> String {
    metric
        .query
        .replace("{{service}}", service)
        .replace("{{namespace}}", namespace)
        .replace("{{track}}", track.as_str())
}

/// Judges one answer: within bounds passes, outside fails, no data (or NaN) is inconclusive, an
/// error is [`Verdict::Error`] (counted like no data: never a pass).
pub fn judge(metric: &Metric, answer: &Result<Sample, PrometheusError>) -> MetricResult {
    let result = |value, verdict, bound: Option<String>| MetricResult {
        name: metric.name.clone(),
        value,
        verdict,
        bound,
    };
    match answer {
        Err(_) => judge_error(metric),
        Ok(Sample::NoData) => result(None, Verdict::Inconclusive, None),
        Ok(Sample::Value(v)) if v.is_nan() => result(None, Verdict::Inconclusive, None),
        Ok(Sample::Value(v)) => {
            if let Some(max) = metric.max.filter(|m| *v > *m) {
                result(Some(*v), Verdict::Fail, Some(format!("> {max}")))
            } else if let Some(min) = metric.min.filter(|m| *v < *m) {
                result(Some(*v), Verdict::Fail, Some(format!("< {min}")))
            } else {
                result(Some(*v), Verdict::Pass, None)
            }
        }
    }
}

fn judge_error(metric: &Metric) -> MetricResult {
    MetricResult {
        name: metric.name.clone(),
        value: None,
        verdict: Verdict::Error,
        bound: None,
    }
}

/// Runs every metric of `analysis` for the canary of `namespace`/`service`.
pub async fn check(analysis: &Analysis, namespace: &str, service: &str) -> Vec<MetricResult> {
    let mut out = Vec::new();
    for metric in &analysis.metrics {
        // `validate` requires an address when there are metrics.
        let Some(address) = analysis.prometheus.as_ref().map(|p| p.address.as_str()) else {
            out.push(judge_error(metric));
            continue;
        };
        let answer = match Prometheus::new(address) {
            Ok(c) => {
                c.query(&query_for(metric, service, namespace, Track::Canary))
                    .await
            }
            Err(e) => Err(e),
        };
        if let Err(e) = &answer {
            warn!(%namespace, %service, metric = %metric.name, error = %e, "canary analysis: metric not read");
        }
        out.push(judge(metric, &answer));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metric(max: Option<f64>, min: Option<f64>) -> Metric {
        Metric {
            name: "error-rate".into(),
            query: r#"sum(rate(x{service="{{service}}",namespace="{{namespace}}",track="{{track}}"}[1m]))"#.into(),
            max,
            min,
        }
    }

    #[test]
    fn placeholders_are_filled_in() {
        assert_eq!(
            query_for(&metric(None, None), "iris", "ml", Track::Canary),
            r#"sum(rate(x{service="iris",namespace="ml",track="canary"}[1m]))"#
        );
    }

    #[test]
    fn values_are_judged_against_their_bounds() {
        let m = metric(Some(0.01), Some(0.0));
        let j = |s| judge(&m, &Ok(s));
        assert_eq!(j(Sample::Value(0.002)).verdict, Verdict::Pass);
        let failed = j(Sample::Value(0.034));
        assert_eq!(failed.verdict, Verdict::Fail);
        assert_eq!(failed.bound.as_deref(), Some("> 0.01"));
        assert_eq!(failed.value, Some(0.034));
        assert_eq!(j(Sample::Value(-1.0)).bound.as_deref(), Some("< 0"));
        assert_eq!(j(Sample::NoData).verdict, Verdict::Inconclusive);
        assert_eq!(j(Sample::Value(f64::NAN)).verdict, Verdict::Inconclusive);
        assert_eq!(judge_error(&m).verdict, Verdict::Error);
    }
}
