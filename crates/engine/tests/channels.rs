use wasio_engine::channels::*;

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn every_speaker_bit_has_a_distinct_name() {
    let mut seen = std::collections::HashSet::new();
    for shift in 0..18 {
        let name = speaker_name(1 << shift);
        assert_ne!(name, "Unknown", "bit {shift}");
        assert!(name.len() < ASIO_NAME_LEN, "{name}");
        assert!(seen.insert(name), "duplicate {name}");
    }
    assert_eq!(speaker_name(SPEAKER_LOW_FREQUENCY), "LFE");
    assert_eq!(speaker_name(SPEAKER_TOP_BACK_RIGHT), "Top Back Right");
    assert_eq!(speaker_name(1 << 18), "Unknown");
    assert_eq!(speaker_name(0), "Unknown");
    assert_eq!(speaker_name(0x3), "Unknown");
    assert_eq!(speaker_name(0x8000_0000), "Unknown");
}

#[test]
fn default_masks_match_ksmedia() {
    assert_eq!(default_channel_mask(1), 0x4);
    assert_eq!(default_channel_mask(2), 0x3);
    assert_eq!(default_channel_mask(4), 0x33);
    assert_eq!(default_channel_mask(5), 0x607);
    assert_eq!(default_channel_mask(6), 0x60F);
    assert_eq!(default_channel_mask(7), 0x637);
    assert_eq!(default_channel_mask(8), 0x63F);
    for count in [0, 3, 9, 16, 64] {
        assert_eq!(default_channel_mask(count), 0);
    }
    for count in [1, 2, 4, 5, 6, 7, 8] {
        assert_eq!(default_channel_mask(count).count_ones() as usize, count);
    }
}

#[test]
fn names_follow_mask_bit_order() {
    assert_eq!(
        channel_names(KSAUDIO_SPEAKER_7POINT1_SURROUND, 8),
        names(&[
            "Front Left",
            "Front Right",
            "Front Center",
            "LFE",
            "Back Left",
            "Back Right",
            "Side Left",
            "Side Right"
        ])
    );
    // Quad with a missing bit in between: order is by bit, not by a fixed table.
    assert_eq!(
        channel_names(
            SPEAKER_FRONT_LEFT | SPEAKER_BACK_CENTER | SPEAKER_TOP_CENTER,
            3
        ),
        names(&["Front Left", "Back Center", "Top Center"])
    );
}

#[test]
fn channels_beyond_the_mask_are_numbered_from_their_position() {
    assert_eq!(
        channel_names(KSAUDIO_SPEAKER_STEREO, 4),
        names(&["Front Left", "Front Right", "Channel 3", "Channel 4"])
    );
    // More mask bits than channels: the extra bits are unused.
    assert_eq!(
        channel_names(KSAUDIO_SPEAKER_5POINT1_SURROUND, 2),
        names(&["Front Left", "Front Right"])
    );
    // Undefined bits (SPEAKER_RESERVED, SPEAKER_ALL) carry no position.
    assert_eq!(
        channel_names(0x8000_0000 | SPEAKER_FRONT_CENTER, 2),
        names(&["Front Center", "Channel 2"])
    );
    assert!(channel_names(0x3, 0).is_empty());
}

#[test]
fn zero_mask_defaults() {
    assert_eq!(channel_names(0, 1), names(&["Front Center"]));
    assert_eq!(channel_names(0, 2), names(&["Front Left", "Front Right"]));
    assert_eq!(
        channel_names(0, 6),
        (1..=6).map(|n| format!("Channel {n}")).collect::<Vec<_>>()
    );
}

fn field_bytes(field: &[core::ffi::c_char; ASIO_NAME_LEN]) -> Vec<u8> {
    field.iter().map(|&c| c as u8).collect()
}

#[test]
fn asio_names_are_nul_terminated_and_truncated_at_char_boundaries() {
    let short = field_bytes(&to_asio_name("Front Left"));
    assert_eq!(&short[..10], b"Front Left");
    assert!(short[10..].iter().all(|&b| b == 0));

    let long = "Top Front Right of a very long speaker name";
    let field = field_bytes(&to_asio_name(long));
    assert_eq!(&field[..31], &long.as_bytes()[..31]);
    assert_eq!(field[31], 0);

    // 'é' is two bytes: 30 ASCII bytes + 'é' would need 32, so 'é' is dropped whole.
    let accented = format!("{}é", "a".repeat(30));
    let field = field_bytes(&to_asio_name(&accented));
    assert_eq!(&field[..30], "a".repeat(30).as_bytes());
    assert_eq!(field[30], 0);
    assert_eq!(field[31], 0);
    // 29 + 'é' = 31 bytes fits exactly.
    let accented = format!("{}é", "a".repeat(29));
    let field = field_bytes(&to_asio_name(&accented));
    assert_eq!(&field[..31], accented.as_bytes());
    assert_eq!(field[31], 0);

    let field = field_bytes(&to_asio_name("In\0side"));
    assert_eq!(&field[..3], b"In\0");
    assert!(field.iter().all(|&b| b != b's'));
    assert!(field_bytes(&to_asio_name("")).iter().all(|&b| b == 0));
}
