//! `pixel_values` must equal the reference processor's for any input size, so our resize
//! must be Pillow's bicubic bit for bit: checked on synthetic images of awkward sizes
//! (down-, up- and mixed scaling) resized by Pillow itself (`tests/golden/pillow_resize/`).

use std::path::Path;

use spatialscope::model::preprocess::resize_rgb_bicubic;

#[test]
fn resize_matches_pillow_exactly() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/pillow_resize");
    let mut n = 0;
    for (w, h) in [(320, 240), (50, 37), (500, 90), (224, 300)] {
        let input = image::open(dir.join(format!("in_{w}x{h}.png")))
            .unwrap()
            .to_rgb8();
        let want = image::open(dir.join(format!("out_{w}x{h}.png")))
            .unwrap()
            .to_rgb8();
        let got = resize_rgb_bicubic(input.as_raw(), w, h, 224, 224);
        let diffs = got
            .iter()
            .zip(want.as_raw())
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(
            diffs,
            0,
            "{w}x{h}: {diffs} of {} bytes differ from Pillow",
            got.len()
        );
        n += 1;
    }
    assert_eq!(n, 4);
}
