//! Timestamps for `sops.lastmodified`, the AAD of the MAC: written as RFC 3339 UTC with
//! seconds, read back normalized the way Go's `time` package formats them.

/// `lastmodified` as `sops` uses it for the MAC's AAD: Go's `time.Parse(RFC3339)` then
/// `Format(RFC3339)`, which drops fractional seconds and writes a zero offset as `Z`.
/// Text that is not such a timestamp is returned unchanged.
pub fn go_rfc3339(s: &str) -> String {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let shape_ok = b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    if !shape_ok {
        return s.to_owned();
    }
    let (base, mut rest) = s.split_at(19);
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return s.to_owned();
        }
        rest = &frac[n..];
    }
    match rest {
        "Z" | "+00:00" | "-00:00" => format!("{base}Z"),
        zone if zone.len() == 6
            && (zone.starts_with('+') || zone.starts_with('-'))
            && zone.as_bytes()[3] == b':' =>
        {
            format!("{base}{zone}")
        }
        _ => s.to_owned(),
    }
}

/// The current UTC time as RFC 3339 with seconds (the form `sops` writes).
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    rfc3339(secs)
}

fn rfc3339(secs: u64) -> String {
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_703_500_261), "2023-12-25T10:31:01Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn lastmodified_is_normalized_like_go() {
        assert_eq!(go_rfc3339("2023-12-25T10:31:01Z"), "2023-12-25T10:31:01Z");
        assert_eq!(
            go_rfc3339("2023-12-25T10:31:01.123456Z"),
            "2023-12-25T10:31:01Z"
        );
        assert_eq!(
            go_rfc3339("2023-12-25T10:31:01+00:00"),
            "2023-12-25T10:31:01Z"
        );
        assert_eq!(
            go_rfc3339("2023-12-25T10:31:01.5+02:00"),
            "2023-12-25T10:31:01+02:00"
        );
        assert_eq!(go_rfc3339("yesterday"), "yesterday");
    }
}
