//! A small RFC 4180 CSV reader: comma-separated, `"`-quoted fields with `""` escapes, quoted
//! fields may span lines, records end at `\n` or `\r\n` outside quotes.

/// Parses `text` into records of fields. Errors on a quote that is never closed.
pub(crate) fn parse(text: &str) -> Result<Vec<Vec<String>>, String> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut in_quotes = false;
    let mut at_field_start = true;
    while let Some(c) = chars.next() {
        if in_quotes {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    field.push('"');
                } else {
                    in_quotes = false;
                }
            } else {
                field.push(c);
            }
            continue;
        }
        match c {
            '"' if at_field_start => {
                in_quotes = true;
                at_field_start = false;
            }
            ',' => {
                record.push(std::mem::take(&mut field));
                at_field_start = true;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
                at_field_start = true;
            }
            _ => {
                field.push(c);
                at_field_start = false;
            }
        }
    }
    if in_quotes {
        return Err(format!(
            "unterminated quoted field in record {}",
            records.len() + 1
        ));
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        records.push(record);
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn quoted_fields_with_newlines_and_quotes() {
        let text = "a,b\r\n\"x, \"\"y\"\"\nz\",2\n3,\"\"\n";
        let r = parse(text).unwrap();
        assert_eq!(
            r,
            vec![
                vec!["a".to_string(), "b".to_string()],
                vec!["x, \"y\"\nz".to_string(), "2".to_string()],
                vec!["3".to_string(), String::new()],
            ]
        );
    }

    #[test]
    fn unterminated_quote_is_an_error() {
        assert!(parse("\"abc\n").is_err());
    }
}
