use super::*;

#[test]
fn the_arena_keeps_spans_text_and_trivia() {
    let src = br#"<?xml version="1.0"?>
<!-- lead -->
<Root xmlns="urn:x" a="1 &amp; 2">
    <!-- note -->
    <leaf>a &lt; b</leaf>
    <cdata><![CDATA[<raw>]]></cdata>
    <empty/>
    <mixed>one<b>two</b>three</mixed>
</Root>
"#;
    let d = parse(src).unwrap();
    let root = d.root();
    assert_eq!(root.name(), "Root");
    assert_eq!(
        &src[d.prolog.clone()],
        &src[..src.len() - root.bytes().len() - 1]
    );
    assert_eq!(&src[d.epilog.clone()], b"\n");
    assert_eq!(
        root.attrs(),
        [
            ("xmlns".to_string(), "urn:x".to_string()),
            ("a".to_string(), "1 & 2".to_string())
        ]
    );
    // the comment is a child node; whitespace between elements is not
    let kinds: Vec<String> = root
        .children()
        .map(|c| match c {
            Child::Elem(e) => e.name().to_string(),
            Child::Other { kind, .. } => format!("{kind:?}"),
        })
        .collect();
    assert_eq!(kinds, ["Comment", "leaf", "cdata", "empty", "mixed"]);
    assert_eq!(root.child("leaf").unwrap().text(), "a < b");
    assert_eq!(root.child("cdata").unwrap().text(), "<raw>");
    let empty = root.child("empty").unwrap();
    assert_eq!(empty.start_tag(), empty.span());
    assert_eq!(empty.text(), "");
    let mixed = root.child("mixed").unwrap();
    assert!(mixed.has_elements());
    assert_eq!(mixed.kid_count(), 3);
    assert_eq!(mixed.bytes(), b"<mixed>one<b>two</b>three</mixed>");
}

#[test]
fn semantic_equality_ignores_layout_and_comments_only() {
    let a = parse(b"<R><x>1</x>\n  <!-- c --><y>&#50;</y></R>").unwrap();
    let b = parse(b"<R>\n<x>1</x><y>2</y>\n</R>").unwrap();
    let c = parse(b"<R><x>1</x><y>3</y></R>").unwrap();
    let d = parse(b"<R><y>2</y><x>1</x></R>").unwrap();
    assert!(sem_eq(a.root(), b.root()));
    assert!(!sem_eq(a.root(), c.root()));
    assert!(!sem_eq(a.root(), d.root()), "order counts at this level");
    // mixed content: the text between child elements counts, its indentation does not
    let m1 = parse(b"<R>one <b>x</b> two</R>").unwrap();
    let m2 = parse(b"<R>one<!-- c --><b>x</b>\n two\n</R>").unwrap();
    let m3 = parse(b"<R>one <b>x</b> three</R>").unwrap();
    assert!(sem_eq(m1.root(), m2.root()));
    assert!(!sem_eq(m1.root(), m3.root()));
}

#[test]
fn limits_and_malformed_input_are_named() {
    let long = format!("<R><{0}>x</{0}></R>", "n".repeat(70_000));
    let e = parse(long.as_bytes()).unwrap_err();
    assert!(e.message.contains("longer than 65,535"), "{e}");
    let attrs: String = (0..300).map(|i| format!(" a{i}=\"v\"")).collect();
    let many = format!("<R><x{attrs}/></R>");
    let e = parse(many.as_bytes()).unwrap_err();
    assert!(e.message.contains("more than 255 attributes in <x>"), "{e}");
    let e = parse(b"<R>\n  <a>\n</R>").unwrap_err();
    assert_eq!(e.line, 3, "{e}");
    let e = parse(b"<R><a>").unwrap_err();
    assert!(e.message.contains("<a> (opened on line 1)"), "{e}");
    let e = parse(b"<R/><S/>").unwrap_err();
    assert!(e.message.contains("after the root"), "{e}");
}
