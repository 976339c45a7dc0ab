//! Decoding an answer of `/api/v1/query` into one [`Sample`] (pure).

use hyper::StatusCode;
use serde::Deserialize;
use serde::de::IgnoredAny;

use super::{MAX_ERROR_TEXT, PrometheusError, Sample};

/// The body of an answer of `/api/v1/query`.
#[derive(Deserialize)]
struct Answer {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

/// `data` of a successful answer.
#[derive(Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
enum Data {
    Vector(Vec<Series>),
    Scalar(Point),
    Matrix(IgnoredAny),
    String(IgnoredAny),
}

/// One series of a vector; its labels are not needed.
#[derive(Deserialize)]
struct Series {
    value: Point,
}

/// `[unix time, "value"]`.
#[derive(Deserialize)]
struct Point(IgnoredAny, String);

impl Point {
    /// The value; `NaN` and `±Inf` are no data.
    fn sample(&self, address: &str) -> Result<Sample, PrometheusError> {
        let value: f64 = self.1.trim().parse().map_err(|_| PrometheusError::Decode {
            address: address.to_owned(),
            reason: "a sample value is not a number".to_owned(),
        })?;
        Ok(if value.is_finite() {
            Sample::Value(value)
        } else {
            Sample::NoData
        })
    }
}

/// The sample in an answer of `/api/v1/query`, or why there is none.
pub(super) fn decode(
    address: &str,
    status: StatusCode,
    body: &[u8],
) -> Result<Sample, PrometheusError> {
    let answer = match serde_json::from_slice::<Answer>(body) {
        Ok(answer) => answer,
        Err(_) if !status.is_success() => {
            return Err(PrometheusError::HttpStatus {
                address: address.to_owned(),
                status: status.as_u16(),
            });
        }
        Err(e) => {
            return Err(PrometheusError::Decode {
                address: address.to_owned(),
                reason: format!(
                    "not a Prometheus API response ({:?} error at line {} column {})",
                    e.classify(),
                    e.line(),
                    e.column()
                ),
            });
        }
    };
    // Prometheus answers errors with 400, 422 or 503 and `"status":"error"`.
    if answer.status == "error" {
        return Err(PrometheusError::Query {
            address: address.to_owned(),
            error_type: bounded(answer.error_type.as_deref().unwrap_or("unknown")),
            error: bounded(answer.error.as_deref().unwrap_or("")),
        });
    }
    if !status.is_success() {
        return Err(PrometheusError::HttpStatus {
            address: address.to_owned(),
            status: status.as_u16(),
        });
    }
    let malformed = |reason: &str| PrometheusError::Decode {
        address: address.to_owned(),
        reason: reason.to_owned(),
    };
    if answer.status != "success" {
        return Err(malformed("the status is neither success nor error"));
    }
    match answer.data {
        None => Err(malformed("a successful answer without data")),
        Some(Data::Scalar(point)) => point.sample(address),
        Some(Data::Vector(series)) => match series.as_slice() {
            [] => Ok(Sample::NoData),
            [one] => one.value.sample(address),
            many => Err(PrometheusError::Ambiguous {
                address: address.to_owned(),
                series: many.len(),
            }),
        },
        Some(Data::Matrix(_)) => Err(PrometheusError::ResultType {
            result_type: "matrix".to_owned(),
            address: address.to_owned(),
        }),
        Some(Data::String(_)) => Err(PrometheusError::ResultType {
            result_type: "string".to_owned(),
            address: address.to_owned(),
        }),
    }
}

/// `text` cut to [`MAX_ERROR_TEXT`] bytes (at a character boundary).
fn bounded(text: &str) -> String {
    if text.len() <= MAX_ERROR_TEXT {
        return text.to_owned();
    }
    let mut end = MAX_ERROR_TEXT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}
