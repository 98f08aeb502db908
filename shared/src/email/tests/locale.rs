//! The built-in emails in every language they ship in: each language has every
//! playbook's subject, text and HTML, uses its own templates and its own layout, keeps the
//! English markup, leaves no English behind, and follows its own typography.

use super::*;

/// What only a language's own layout says, for the sample shop ("Example Shop") and
/// customer ("Alex"): the greeting with and without a first name, and the footer.
struct LayoutWords {
    greeting_named: &'static str,
    greeting: &'static str,
    footer: &'static str,
}

fn layout_words(lang: &str) -> LayoutWords {
    let (greeting_named, greeting, footer) = match lang {
        "en" => (
            "Hi Alex,",
            "Hello,",
            "You're getting this email because you ordered from Example Shop.",
        ),
        "fr" => (
            "Bonjour Alex,",
            "Bonjour,",
            "Vous recevez cet e-mail parce que vous avez commandé chez Example Shop.",
        ),
        "de" => (
            "Hallo Alex,",
            "Guten Tag,",
            "Sie erhalten diese E-Mail, weil Sie bei Example Shop bestellt haben.",
        ),
        "es" => (
            "Hola, Alex:",
            "Hola:",
            "Recibe este correo porque hizo un pedido en Example Shop.",
        ),
        other => panic!("no layout words for {other}"),
    };
    LayoutWords {
        greeting_named,
        greeting,
        footer,
    }
}

/// The sample contexts every language is rendered with: `full` and `minimal` (as the
/// trial render of overrides uses), plus a full one about a single product, which takes
/// the "your {product}" branches.
fn samples(playbook: Playbook) -> Vec<(&'static str, EmailContext)> {
    let mut one_line = sample_context(playbook, true);
    one_line.lines.truncate(1);
    one_line.care.truncate(1);
    vec![
        ("full", sample_context(playbook, true)),
        ("minimal", sample_context(playbook, false)),
        ("one line", one_line),
    ]
}

fn in_locale(ctx: &EmailContext, lang: &str) -> EmailContext {
    let mut ctx = ctx.clone();
    ctx.locale = Some(lang.to_owned());
    ctx
}

/// Renders with the built-ins, LF line endings.
fn render_lf(ctx: &EmailContext) -> Rendered {
    let r = Templates::builtin()
        .render(ctx)
        .unwrap_or_else(|e| panic!("{:?} in {:?}: {e}", ctx.playbook, ctx.locale));
    Rendered {
        subject: r.subject,
        text: r.text.replace("\r\n", "\n"),
        html: r.html.replace("\r\n", "\n"),
    }
}

/// What a reader sees of an HTML part: the text of `<body>` (the preheader included),
/// tags dropped (all but inline ones end a line, so that paragraphs stay apart),
/// entities decoded.
fn visible_text(html: &str) -> String {
    let start = html.find("<body").expect("a body");
    let end = html.find("</body>").expect("body closes");
    let mut text = String::new();
    let mut tag: Option<String> = None;
    for c in html[start..end].chars() {
        match (&mut tag, c) {
            (None, '<') => tag = Some(String::new()),
            (Some(name), '>') => {
                let name = name.trim_start_matches('/');
                let name = name.split([' ', '/']).next().unwrap_or_default();
                if !["a", "strong", "span"].contains(&name) {
                    text.push('\n');
                }
                tag = None;
            }
            (Some(name), c) => name.push(c),
            (None, c) => text.push(c),
        }
    }
    decode_entities(&text)
}

/// `&nbsp;`, the five escapes of [`format_value`] and numeric references.
fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let Some(end) = tail.find(';').filter(|&e| e <= 10) else {
            out.push('&');
            rest = &tail[1..];
            continue;
        };
        let entity = &tail[1..end];
        let decoded = match entity {
            "nbsp" => Some('\u{a0}'),
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            _ => entity.strip_prefix('#').and_then(|n| {
                match n.strip_prefix(['x', 'X']) {
                    Some(hex) => u32::from_str_radix(hex, 16).ok(),
                    None => n.parse().ok(),
                }
                .and_then(char::from_u32)
            }),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &tail[end + 1..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Everything a reader sees of an email (subject, text part, HTML body), one piece per
/// line, without URLs and email addresses (which carry `:`, `?` and `!` of their own).
fn readable(r: &Rendered) -> String {
    let all = format!("{}\n{}\n{}", r.subject, r.text, visible_text(&r.html));
    all.lines()
        .map(|line| {
            line.split(' ')
                .filter(|word| !word.contains("://") && !word.contains('@'))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The context's own values as an email shows them (names, titles, codes, the shop's
/// sign-off and address, amounts, the date): the same in every language, so not
/// something to translate.
fn context_values(ctx: &EmailContext) -> Vec<String> {
    let mut values: Vec<String> = [
        Some(&ctx.shop_name),
        ctx.first_name.as_ref(),
        ctx.order_name.as_ref(),
        ctx.discount_code.as_ref(),
        ctx.discount_expires.as_ref(),
        ctx.preheader.as_ref(),
        ctx.support_email.as_ref(),
        ctx.brand.sign_off.as_ref(),
        ctx.brand.postal_address.as_ref(),
    ]
    .into_iter()
    .flatten()
    .cloned()
    .collect();
    for line in &ctx.lines {
        values.push(line.title.clone());
        values.extend(line.variant_title.clone());
    }
    values.extend(ctx.care.iter().map(|c| c.title.clone()));
    values.extend(ctx.complementary.iter().map(|c| c.title.clone()));
    values.retain(|v| !v.is_empty());
    // Longest first, so that a value inside another one does not split it.
    values.sort_by_key(|v| std::cmp::Reverse(v.len()));
    values
}

/// `text` with every context value (and every amount) replaced by a line break.
fn without_values(text: &str, ctx: &EmailContext) -> String {
    let mut text = text.to_owned();
    for value in context_values(ctx) {
        text = text.replace(&value, "\n");
    }
    // Amounts as money formatting writes them: digits, separators and a currency code.
    text.split(' ')
        .map(|word| {
            if word.chars().any(|c| c.is_ascii_digit())
                && word.chars().all(|c| c.is_ascii_digit() || ".,".contains(c))
            {
                "\n"
            } else {
                word
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The sentences and clauses of `text` worth translating: split at line breaks and at
/// `.` `?` `!` `:` `;` before a space, trimmed of bullets and punctuation, kept when they
/// are longer than 12 characters and have two words of letters or more.
fn sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let ends = c == '\n'
            || (matches!(c, '.' | '?' | '!' | ':' | ';')
                && chars.peek().is_none_or(|next| next.is_whitespace()));
        if ends {
            out.push(std::mem::take(&mut current));
        } else {
            current.push(c);
        }
    }
    out.push(current);
    out.into_iter()
        .map(|s| {
            s.split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .trim_matches(|c: char| !c.is_alphanumeric())
                .to_owned()
        })
        .filter(|s| {
            s.chars().count() > 12
                && s.split_whitespace()
                    .filter(|w| w.chars().filter(|c| c.is_alphabetic()).count() >= 2)
                    .count()
                    >= 2
        })
        .collect()
}

/// The words of `text` (letters and digits).
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
}

/// English words that have no business in a German or Spanish email.
const ENGLISH_WORDS: &[&str] = &[
    "the",
    "you",
    "your",
    "and",
    "to",
    "of",
    "for",
    "Hi",
    "Hello",
    "Thank",
    "Thanks",
    "Please",
    "order",
    "email",
    "Reply",
    "Qty",
    "Unsubscribe",
    "reminder",
    "code",
    "shop",
    "team",
];

#[test]
fn every_template_in_every_shipped_locale_is_complete_and_translated() {
    let templates = Templates::builtin();
    for playbook in Playbook::ALL {
        let p = playbook.as_str();
        for (sample, base) in samples(playbook) {
            let english = render_lf(&in_locale(&base, "en"));
            let english_sentences: Vec<String> =
                sentences(&without_values(&readable(&english), &base));
            assert!(
                english_sentences.len() >= 3,
                "{p} {sample}: {english_sentences:?}"
            );
            for lang in LOCALES {
                let ctx = in_locale(&base, lang);
                let at = format!("{p} {lang} {sample}");
                // Renders (a missing variable or template is an error), in the language's
                // own templates, each of the three parts.
                let r = render_lf(&ctx);
                let chain = customer_chain(ctx.locale.as_deref(), None);
                for kind in KINDS {
                    let (name, picked) = templates.resolve(p, kind, &chain).unwrap();
                    let own = if lang == DEFAULT_LANG {
                        format!("{p}.{kind}")
                    } else {
                        format!("{p}.{lang}.{kind}")
                    };
                    assert_eq!((name, picked.as_str()), (own.as_str(), lang), "{at}");
                }
                assert!(
                    r.html
                        .starts_with(&format!("<!DOCTYPE html>\n<html lang=\"{lang}\">\n")),
                    "{at}: {}",
                    &r.html[..60]
                );
                // The layout is the language's own: its greeting and footer, in both parts.
                let layout = layout_words(lang);
                let greeting = if ctx.first_name.is_some() {
                    layout.greeting_named
                } else {
                    layout.greeting
                };
                assert!(
                    r.text.starts_with(&format!("{greeting}\n")),
                    "{at}: {}",
                    r.text
                );
                assert!(r.html.contains(&format!(">{greeting}</p>")), "{at}");
                assert!(r.text.contains(layout.footer), "{at}: {}", r.text);
                assert!(r.html.contains(layout.footer), "{at}");
                if lang == "en" {
                    continue;
                }
                assert_ne!(
                    r.subject, english.subject,
                    "{at}: the subject is translated"
                );
                // No English sentence or clause is left, in any part.
                let readable = without_values(&readable(&r), &ctx);
                for sentence in &english_sentences {
                    assert!(
                        !readable.contains(sentence.as_str()),
                        "{at}: English {sentence:?} in\n{readable}"
                    );
                }
                if lang == "fr" {
                    continue;
                }
                for word in words(&readable) {
                    assert!(
                        !ENGLISH_WORDS.contains(&word),
                        "{at}: English {word:?} in\n{readable}"
                    );
                }
                // One form of address: Sie in German, usted in Spanish.
                let informal: &[&str] = match lang {
                    "de" => &[
                        "du", "Du", "dich", "Dich", "dir", "Dir", "dein", "Dein", "deine",
                        "deinen", "deinem", "deiner", "euch", "euer",
                    ],
                    _ => &["tú", "Tú", "tu", "Tu", "tus", "Tus", "te", "ti", "contigo"],
                };
                for word in words(&readable) {
                    assert!(
                        !informal.contains(&word),
                        "{at}: informal {word:?} in\n{readable}"
                    );
                }
                if lang == "de" {
                    // The polite Ihr is always capitalised (the emails never say "her" or
                    // "their").
                    for word in words(&readable) {
                        assert!(
                            !["ihr", "ihre", "ihrem", "ihren", "ihrer", "ihres"].contains(&word),
                            "{at}: {word:?} for Ihr in\n{readable}"
                        );
                    }
                }
            }
        }
    }
}

/// The locale of a template name (`thank_you.de.html` -> `de`, `layout.txt` -> `en`), its
/// base (`thank_you`, `layout`) and its extension.
fn split_name(name: &str) -> (&str, &str, &str) {
    let parts: Vec<&str> = name.split('.').collect();
    match parts[..] {
        [base, ext] => (base, DEFAULT_LANG, ext),
        [base, lang, ext] => (base, lang, ext),
        _ => panic!("unexpected template name {name}"),
    }
}

/// The targets of every `{% extends "…" %}` in `source`.
fn extends(source: &str) -> Vec<&str> {
    source
        .match_indices("{% extends \"")
        .map(|(at, tag)| {
            let rest = &source[at + tag.len()..];
            &rest[..rest.find('"').expect("the name closes")]
        })
        .collect()
}

#[test]
fn every_locale_has_every_playbook_part_and_extends_its_own_layout() {
    let names: Vec<&str> = BUILTIN.iter().map(|(n, _)| *n).collect();
    let mut expected: Vec<String> = ["parts.html", "frame.txt", "frame.html"]
        .map(str::to_owned)
        .into();
    for lang in LOCALES {
        let infix = if lang == DEFAULT_LANG {
            String::new()
        } else {
            format!(".{lang}")
        };
        for ext in ["txt", "html"] {
            expected.push(format!("layout{infix}.{ext}"));
        }
        for playbook in Playbook::ALL {
            for kind in KINDS {
                expected.push(format!("{}{infix}.{kind}", playbook.as_str()));
            }
        }
    }
    for name in &expected {
        assert!(names.contains(&name.as_str()), "{name} is not in BUILTIN");
    }
    let mut sorted_names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    sorted_names.sort();
    let mut sorted_expected = expected.clone();
    sorted_expected.sort();
    assert_eq!(
        sorted_names, sorted_expected,
        "BUILTIN is every playbook part and layout in every locale, each once"
    );

    // Every file in templates/ is compiled in.
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/email/templates");
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(
        files, sorted_names,
        "every file in templates/ is in BUILTIN"
    );

    for (name, source) in BUILTIN {
        let (base, lang, ext) = split_name(name);
        let targets = extends(source);
        match base {
            "parts" | "frame" => assert!(targets.is_empty(), "{name} extends {targets:?}"),
            // Every language's layout gives only its text to the language-neutral frame.
            "layout" => assert_eq!(targets, [format!("frame.{ext}").as_str()], "{name}"),
            _ if ext == "subject" => assert!(targets.is_empty(), "{name}"),
            _ => {
                let own = if lang == DEFAULT_LANG {
                    format!("layout.{ext}")
                } else {
                    format!("layout.{lang}.{ext}")
                };
                assert_eq!(targets, [own.as_str()], "{name} extends its own layout");
            }
        }
    }
}

/// A template's source without its words: tags, `{{ … }}` and `{% … %}` with their string
/// literals emptied (a `{% set %}` by its name, keys and number of literals), comments
/// left out. Also used by the customer pages' translation test.
pub(crate) fn markup(source: &str) -> Vec<String> {
    let blank_literals = |item: &str| {
        let mut out = String::new();
        let mut in_literal = false;
        for c in item.chars() {
            if c == '"' {
                in_literal = !in_literal;
                out.push(c);
            } else if !in_literal {
                out.push(c);
            }
        }
        out
    };
    let mut out = Vec::new();
    let mut rest = source;
    while let Some(at) = rest.find(['<', '{']) {
        let tail = &rest[at..];
        let close = match tail.get(..2) {
            Some("{{") => "}}",
            Some("{%") => "%}",
            Some("{#") => "#}",
            _ if tail.starts_with('<') => ">",
            _ => {
                rest = &tail[1..];
                continue;
            }
        };
        let end = tail.find(close).expect("closes") + close.len();
        let item = &tail[..end];
        if item.starts_with("{% set") {
            let keys: Vec<&str> = item
                .lines()
                .filter_map(|l| l.trim().strip_prefix('"')?.split('"').next())
                .collect();
            let name = item.split('=').next().unwrap_or_default();
            let literals = item.matches('"').count() / 2;
            out.push(format!("{name}{keys:?} {literals}"));
        } else if item.starts_with("{{") || item.starts_with("{%") {
            out.push(blank_literals(item));
        } else if !item.starts_with("{#") {
            out.push(item.to_owned());
        }
        rest = &tail[end..];
    }
    out
}

/// A translation differs from the English template only in its words: the same tags,
/// attributes, variables, conditions and macro calls, in the same order.
#[test]
fn translations_keep_the_english_markup_variables_and_conditions() {
    let source = |name: &str| {
        BUILTIN
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("{name} is not in BUILTIN"))
            .1
    };
    for (name, text) in BUILTIN {
        let (base, lang, ext) = split_name(name);
        if lang == DEFAULT_LANG {
            continue;
        }
        let english = markup(source(&format!("{base}.{ext}")));
        assert_eq!(markup(text), english, "{name} against {base}.{ext}");
    }
}

/// In every language, no sentence runs into the next one ("better.Just reply"). French:
/// a narrow no-break space (U+202F) before `?` `!` `;` and a no-break space (U+00A0)
/// before `:`, never a plain one. German and Spanish: no space at all before them.
/// Spanish: every question and exclamation opens with `¿` / `¡`.
#[test]
fn every_locale_follows_its_own_typography() {
    for playbook in Playbook::ALL {
        for (sample, base) in samples(playbook) {
            for lang in LOCALES {
                let at = format!("{} {lang} {sample}", playbook.as_str());
                let r = render_lf(&in_locale(&base, lang));
                let text = readable(&r);
                for line in text.lines() {
                    let chars: Vec<char> = line.chars().collect();
                    for (i, &mark) in chars.iter().enumerate() {
                        if !"?!:;.".contains(mark) {
                            continue;
                        }
                        let after = chars.get(i + 1);
                        assert!(
                            !after.is_some_and(|c| c.is_alphabetic()),
                            "{at}: nothing between {mark:?} and the next sentence in {line:?}"
                        );
                        let before = i.checked_sub(1).map(|b| chars[b]);
                        match lang {
                            _ if mark == '.' => {}
                            "en" => {}
                            "fr" => {
                                let want = if mark == ':' { '\u{a0}' } else { '\u{202f}' };
                                assert_eq!(
                                    before,
                                    Some(want),
                                    "{at}: {mark:?} without {want:?} in {line:?}"
                                );
                            }
                            _ => assert!(
                                before.is_some_and(|b| !b.is_whitespace()),
                                "{at}: space before {mark:?} in {line:?}"
                            ),
                        }
                    }
                }
                if lang == "es" {
                    for (open, close) in [('¿', '?'), ('¡', '!')] {
                        let mut is_open = false;
                        for c in text.chars() {
                            if c == open {
                                assert!(!is_open, "{at}: {open} twice in\n{text}");
                                is_open = true;
                            } else if c == close {
                                assert!(is_open, "{at}: {close} without {open} in\n{text}");
                                is_open = false;
                            }
                        }
                        assert!(!is_open, "{at}: {open} never closed in\n{text}");
                    }
                }
            }
        }
    }
}

/// German and Spanish subjects fit an inbox line (60 characters) with a typical order name
/// and product title.
#[test]
fn german_and_spanish_subjects_are_short() {
    for playbook in Playbook::ALL {
        for (sample, base) in samples(playbook) {
            for lang in ["de", "es"] {
                let subject = render_lf(&in_locale(&base, lang)).subject;
                assert!(
                    subject.chars().count() <= 60,
                    "{} {lang} {sample}: {subject:?} has {} characters",
                    playbook.as_str(),
                    subject.chars().count()
                );
            }
        }
    }
}
