//! Each verdict, the zero and negative baselines, direction, the rank test,
//! and the property that no evidence is never a pass.

use proptest::prelude::*;

use super::*;

fn rule(max_ratio: Option<f64>, max_delta: Option<f64>, direction: Direction) -> BaselineRule {
    BaselineRule {
        max_ratio,
        max_delta,
        direction,
        min_samples: 3,
        test: Test::Median,
    }
}

fn ratio(max: f64, direction: Direction) -> BaselineRule {
    rule(Some(max), None, direction)
}

/// `n` samples spread evenly around `centre`, so the median is `centre`.
fn around(centre: f64, n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| centre * (1.0 + 0.01 * (i as f64 - (n as f64 - 1.0) / 2.0)))
        .collect()
}

#[test]
fn the_detail_line_names_both_sides_the_change_the_limit_and_the_verdict() {
    let j = judge(
        &around(0.0412, 30),
        &around(0.0101, 30),
        &ratio(2.0, Direction::Increase),
    );
    assert_eq!(j.verdict, BaselineVerdict::Fail);
    assert_eq!(
        j.detail,
        "candidate 0.0412 vs baseline 0.0101 (×4.08 > ×2.00 increase, 30/30 samples): fail"
    );
    assert_eq!(j.samples, (30, 30));
    assert!((j.ratio.unwrap() - 0.0412 / 0.0101).abs() < 1e-12);
    assert!((j.delta.unwrap() - 0.0311).abs() < 1e-12);
    assert_eq!(j.p_value, None);

    let j = judge(
        &around(0.011, 30),
        &around(0.0101, 30),
        &ratio(2.0, Direction::Increase),
    );
    assert_eq!(j.verdict, BaselineVerdict::Pass);
    assert_eq!(
        j.detail,
        "candidate 0.0110 vs baseline 0.0101 (×1.09 ≤ ×2.00 increase, 30/30 samples): pass"
    );
}

#[test]
fn no_samples_on_a_side_is_no_data() {
    let r = ratio(2.0, Direction::Increase);
    let j = judge(&[], &[1.0, 2.0, 3.0], &r);
    assert_eq!(j.verdict, BaselineVerdict::NoData);
    assert_eq!(
        (j.candidate, j.baseline, j.ratio, j.delta),
        (None, Some(2.0), None, None)
    );
    assert_eq!(
        j.detail,
        "candidate none vs baseline 2.00 (0/3 samples): no data"
    );
    assert_eq!(j.verdict.as_str(), "no data");
    // Non-finite samples are missing ones.
    let j = judge(&[1.0, 2.0, 3.0], &[f64::NAN, f64::INFINITY], &r);
    assert_eq!(j.verdict, BaselineVerdict::NoData);
    assert_eq!(j.samples, (3, 0));
}

#[test]
fn fewer_than_min_samples_is_insufficient_with_the_evidence_so_far() {
    let r = ratio(2.0, Direction::Increase);
    let j = judge(&[9.0, 9.0], &[1.0, 1.0, 1.0], &r);
    assert_eq!(j.verdict, BaselineVerdict::Insufficient);
    assert_eq!(j.ratio, Some(9.0), "shown, though not judged");
    assert_eq!(
        j.detail,
        "candidate 9.00 vs baseline 1.00 (2/3 samples, need 3 each): insufficient"
    );
    let j = judge(
        &[1.0, 1.0, 1.0, f64::NAN],
        &[1.0, 1.0, 1.0],
        &BaselineRule {
            min_samples: 4,
            ..r
        },
    );
    assert_eq!(
        j.verdict,
        BaselineVerdict::Insufficient,
        "a NaN does not count"
    );
}

#[test]
fn direction_decides_which_change_is_bad() {
    let (low, high) = (around(10.0, 5), around(40.0, 5));
    let verdict = |c: &[f64], b: &[f64], d| judge(c, b, &ratio(2.0, d)).verdict;
    use BaselineVerdict::{Fail, Pass};
    assert_eq!(verdict(&high, &low, Direction::Increase), Fail);
    assert_eq!(verdict(&low, &high, Direction::Increase), Pass);
    assert_eq!(verdict(&high, &low, Direction::Decrease), Pass);
    assert_eq!(verdict(&low, &high, Direction::Decrease), Fail);
    assert_eq!(verdict(&high, &low, Direction::Either), Fail);
    assert_eq!(verdict(&low, &high, Direction::Either), Fail);
    assert_eq!(verdict(&low, &low, Direction::Either), Pass);
    let j = judge(&low, &high, &ratio(2.0, Direction::Decrease));
    assert_eq!(
        j.detail,
        "candidate 10.0 vs baseline 40.0 (×0.25 < ×0.50 decrease, 5/5 samples): fail"
    );
    let j = judge(&around(30.0, 5), &high, &ratio(2.0, Direction::Either));
    assert_eq!(
        j.detail,
        "candidate 30.0 vs baseline 40.0 (×0.75 ≥ ×0.50 either way, 5/5 samples): pass"
    );
}

#[test]
fn a_delta_limit_judges_in_the_metrics_own_unit() {
    let r = rule(None, Some(5.0), Direction::Increase);
    let j = judge(&[12.0, 12.0, 12.0], &[10.0, 10.0, 10.0], &r);
    assert_eq!(j.verdict, BaselineVerdict::Pass);
    assert_eq!(
        j.detail,
        "candidate 12.0 vs baseline 10.0 (+2.00 ≤ +5.00 increase, 3/3 samples): pass"
    );
    let j = judge(
        &[-20.0; 3],
        &[-10.0; 3],
        &rule(None, Some(5.0), Direction::Decrease),
    );
    assert_eq!(j.verdict, BaselineVerdict::Fail);
    assert_eq!(
        j.detail,
        "candidate -20.0 vs baseline -10.0 (-10.0 < -5.00 decrease, 3/3 samples): fail"
    );
    // Both limits: either one broken fails.
    let both = rule(Some(10.0), Some(1.0), Direction::Increase);
    let j = judge(&[3.0; 3], &[1.0; 3], &both);
    assert_eq!(j.verdict, BaselineVerdict::Fail);
    assert_eq!(
        j.detail,
        "candidate 3.00 vs baseline 1.00 (×3.00 ≤ ×10.00, +2.00 > +1.00 increase, 3/3 samples): fail"
    );
}

#[test]
fn a_zero_baseline_has_no_ratio() {
    let only_ratio = ratio(2.0, Direction::Increase);
    let j = judge(&[0.0; 3], &[0.0; 3], &only_ratio);
    assert_eq!(
        (j.verdict, j.ratio, j.delta),
        (BaselineVerdict::Pass, None, Some(0.0))
    );
    assert_eq!(
        j.detail,
        "candidate 0 vs baseline 0 (both 0 increase, 3/3 samples): pass"
    );
    let j = judge(&[0.5; 3], &[0.0; 3], &only_ratio);
    assert_eq!(j.verdict, BaselineVerdict::Fail);
    assert!(
        j.detail
            .contains("baseline 0, so any move that way breaks the ratio"),
        "{}",
        j.detail
    );
    let j = judge(&[-0.5; 3], &[0.0; 3], &only_ratio);
    assert_eq!(
        j.verdict,
        BaselineVerdict::Pass,
        "a fall is not what is watched"
    );
    // With a delta limit, the delta alone judges.
    let with_delta = rule(Some(2.0), Some(1.0), Direction::Increase);
    let j = judge(&[0.5; 3], &[0.0; 3], &with_delta);
    assert_eq!(j.verdict, BaselineVerdict::Pass);
    assert_eq!(
        j.detail,
        "candidate 0.500 vs baseline 0 (+0.500 ≤ +1.00 increase, 3/3 samples): pass"
    );
}

#[test]
fn a_negative_baseline_is_judged_by_delta_or_fails_closed() {
    let j = judge(&[-1.0; 3], &[-10.0; 3], &ratio(2.0, Direction::Decrease));
    assert_eq!(j.verdict, BaselineVerdict::Fail);
    assert!(
        j.detail
            .contains("a negative baseline has no ratio: set max_delta"),
        "{}",
        j.detail
    );
    let j = judge(
        &[-1.0; 3],
        &[-10.0; 3],
        &rule(Some(2.0), Some(1.0), Direction::Decrease),
    );
    assert_eq!(j.verdict, BaselineVerdict::Pass);
    assert_eq!(j.ratio, Some(0.1), "still reported");
}

#[test]
fn medians_shrug_off_one_wild_sample() {
    let j = judge(
        &[1.0, 1.0, 1.0, 1.0, 1e9],
        &[1.0; 5],
        &ratio(2.0, Direction::Increase),
    );
    assert_eq!((j.verdict, j.candidate), (BaselineVerdict::Pass, Some(1.0)));
    assert_eq!(median(&[1.0, 2.0, 3.0, 10.0]), Some(2.5));
}

fn rank(max_ratio: f64, direction: Direction) -> BaselineRule {
    BaselineRule {
        min_samples: RANK_MIN_SAMPLES,
        test: Test::Rank,
        ..ratio(max_ratio, direction)
    }
}

#[test]
fn the_rank_test_matches_scipy() {
    // scipy.stats.mannwhitneyu's documented example, method="asymptotic".
    let p = rank_test(
        &[16.0, 19.0, 22.0, 24.0, 29.0],
        &[11.0, 12.0, 17.0, 20.0],
        Direction::Either,
    );
    assert!((p - 0.111_346_886_533_140_41).abs() < 1e-6, "{p}");
    // Ties, checked against the same formula written in Python with math.erfc.
    let c = [1.0, 2.0, 2.0, 3.0, 3.0, 3.0, 4.0, 4.0, 5.0, 5.0];
    let b = [1.0, 1.0, 2.0, 2.0, 2.0, 3.0, 3.0, 3.0, 4.0, 4.0];
    for (dir, want) in [
        (Direction::Increase, 0.122_016_631_875_853_38),
        (Direction::Decrease, 0.892_997_722_152_447_9),
        (Direction::Either, 0.244_033_263_751_706_75),
    ] {
        let p = rank_test(&c, &b, dir);
        assert!((p - want).abs() < 1e-6, "{dir:?}: {p} vs {want}");
    }
    assert_eq!(
        rank_test(&[3.0; 10], &[3.0; 10], Direction::Either),
        1.0,
        "all tied"
    );
}

#[test]
fn a_clear_shift_is_significant_and_fails() {
    let j = judge(
        &around(40.0, 20),
        &around(10.0, 20),
        &rank(2.0, Direction::Increase),
    );
    assert_eq!(j.verdict, BaselineVerdict::Fail);
    let p = j.p_value.unwrap();
    assert!(p < 1e-6, "{p}");
    assert!(
        j.detail
            .ends_with(&format!("20/20 samples, p={} < 0.05): fail", num(p))),
        "{}",
        j.detail
    );
}

#[test]
fn a_broken_limit_that_is_not_significant_passes_and_says_so() {
    // Medians 3 vs 1, but the samples overlap too much to tell apart.
    let c = [0.0, 0.0, 0.0, 0.0, 3.0, 3.0, 9.0, 9.0, 9.0, 9.0];
    let b = [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 9.0, 9.0, 9.0, 9.0];
    let j = judge(&c, &b, &rank(2.0, Direction::Increase));
    assert_eq!(j.ratio, Some(3.0));
    assert_eq!(j.verdict, BaselineVerdict::Pass);
    assert!(
        j.detail.contains("≥ 0.05: not significant): pass"),
        "{}",
        j.detail
    );
    // Identical distributions: nowhere near significant.
    let same = around(5.0, 12);
    let p = judge(&same, &same, &rank(2.0, Direction::Either))
        .p_value
        .unwrap();
    assert!(p > 0.9, "{p}");
}

#[test]
fn rules_that_cannot_judge_are_refused() {
    assert_eq!(ratio(2.0, Direction::Increase).check(), Ok(()));
    assert_eq!(
        rule(None, None, Direction::Increase).check(),
        Err(RuleError::NoLimit)
    );
    assert_eq!(
        ratio(0.5, Direction::Increase).check(),
        Err(RuleError::Ratio(0.5))
    );
    assert!(matches!(
        ratio(f64::NAN, Direction::Increase).check(),
        Err(RuleError::Ratio(_))
    ));
    assert_eq!(
        rule(None, Some(-1.0), Direction::Either).check(),
        Err(RuleError::Delta(-1.0))
    );
    let few = BaselineRule {
        min_samples: 5,
        ..rank(2.0, Direction::Increase)
    };
    assert_eq!(few.check(), Err(RuleError::RankSamples(5)));
    assert_eq!(
        few.check().unwrap_err().to_string(),
        "min_samples = 5: test = \"rank\" needs at least 8"
    );
    assert_eq!(rank(2.0, Direction::Increase).check(), Ok(()));
}

#[test]
fn words_on_the_wire() {
    let r: BaselineRule = serde_json::from_str(
        r#"{"max_ratio": 2, "direction": "either", "min_samples": 30, "test": "rank"}"#,
    )
    .unwrap();
    assert_eq!(
        r,
        BaselineRule {
            min_samples: 30,
            ..rank(2.0, Direction::Either)
        }
    );
    let r: BaselineRule =
        serde_json::from_str(r#"{"max_delta": 1, "direction": "decrease", "min_samples": 3}"#)
            .unwrap();
    assert_eq!((r.test, r.max_ratio), (Test::Median, None));
    assert!(
        serde_json::from_str::<BaselineRule>(r#"{"direction": "up", "min_samples": 3}"#).is_err()
    );
    assert!(
        serde_json::from_str::<BaselineRule>(
            r#"{"direction": "increase", "min_samples": 3, "x": 1}"#
        )
        .is_err()
    );
    assert_eq!(
        serde_json::to_string(&BaselineVerdict::NoData).unwrap(),
        "\"no_data\""
    );
    assert_eq!(BaselineVerdict::Insufficient.to_string(), "insufficient");
    let j = judge(&[2.0; 3], &[1.0; 3], &ratio(2.0, Direction::Increase));
    let back: Judgement = serde_json::from_str(&serde_json::to_string(&j).unwrap()).unwrap();
    assert_eq!(back, j);
}

#[test]
fn numbers_in_the_detail_keep_three_digits() {
    let cases = [
        (0.0, "0"),
        (-0.0, "0"),
        (0.0412, "0.0412"),
        (123.456, "123"),
        (4096.0, "4096"),
        (1.5, "1.50"),
        (2e-6, "2.00e-6"),
        (3.2e7, "3.20e7"),
        (-7.25, "-7.25"),
    ];
    for (x, want) in cases {
        assert_eq!(num(x), want, "{x}");
    }
}

fn samples() -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(
        prop_oneof![8 => -1e6..1e6f64, 1 => Just(f64::NAN), 1 => Just(f64::INFINITY), 1 => Just(0.0)],
        0..40,
    )
}

fn rules() -> impl Strategy<Value = BaselineRule> {
    let direction = prop_oneof![
        Just(Direction::Increase),
        Just(Direction::Decrease),
        Just(Direction::Either)
    ];
    let test = prop_oneof![Just(Test::Median), Just(Test::Rank)];
    (
        prop::option::of(1.0..10.0f64),
        prop::option::of(0.0..100.0f64),
        direction,
        0usize..40,
        test,
    )
        .prop_map(
            |(max_ratio, max_delta, direction, min_samples, test)| BaselineRule {
                max_ratio,
                max_delta,
                direction,
                min_samples,
                test,
            },
        )
}

proptest! {
    #[test]
    fn never_a_pass_without_enough_evidence_on_both_sides(c in samples(), b in samples(), r in rules()) {
        let j = judge(&c, &b, &r);
        let finite = |s: &[f64]| s.iter().filter(|x| x.is_finite()).count();
        let (nc, nb) = (finite(&c), finite(&b));
        prop_assert_eq!(j.samples, (nc, nb));
        if nc == 0 || nb == 0 {
            prop_assert_eq!(j.verdict, BaselineVerdict::NoData);
        } else if nc < r.min_samples || nb < r.min_samples {
            prop_assert_eq!(j.verdict, BaselineVerdict::Insufficient);
        }
        prop_assert!(j.detail.ends_with(j.verdict.as_str()), "{}", j.detail);
        if let Some(p) = j.p_value {
            prop_assert!((0.0..=1.0).contains(&p));
        }
    }
}
