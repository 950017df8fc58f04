//! The arithmetic of the deflection reports, in one place
//! (docs/architecture.md, "Deflection figures"): Wilson score intervals for rates, Newcombe's hybrid
//! score interval for the hold-out difference, and how intervals carry
//! into estimates and costs.

use serde::Serialize;

/// The z value of a two-sided interval at `confidence` (0.95 → 1.96).
pub fn z_for(confidence: f64) -> f64 {
    inverse_normal_cdf(1.0 - (1.0 - confidence) / 2.0)
}

/// The standard normal quantile function (Acklam's rational
/// approximation, relative error below 1.2e-9).
fn inverse_normal_cdf(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] =
        [7.784_695_709_041_462e-3, 3.224_671_290_700_398e-1, 2.445_134_137_142_996, 3.754_408_661_907_416];
    const LOW: f64 = 0.024_25;
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    if p < LOW {
        let q = (-2.0 * p.ln()).sqrt();
        return (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0);
    }
    if p > 1.0 - LOW {
        return -inverse_normal_cdf(1.0 - p);
    }
    let q = p - 0.5;
    let r = q * q;
    (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
        / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
}

/// A proportion with its Wilson score interval. With no observations every
/// figure is `null`: there is nothing to estimate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Rate {
    pub value: Option<f64>,
    pub low: Option<f64>,
    pub high: Option<f64>,
    pub n: u64,
}

impl Rate {
    pub fn bounds(&self) -> Option<(f64, f64, f64)> {
        Some((self.value?, self.low?, self.high?))
    }
}

/// The Wilson score interval of `successes` out of `n` at z.
pub fn wilson(successes: u64, n: u64, z: f64) -> Rate {
    if n == 0 {
        return Rate { value: None, low: None, high: None, n };
    }
    let n_f = n as f64;
    let p = successes as f64 / n_f;
    let z2 = z * z;
    let denominator = 1.0 + z2 / n_f;
    let centre = (p + z2 / (2.0 * n_f)) / denominator;
    let half = z / denominator * (p * (1.0 - p) / n_f + z2 / (4.0 * n_f * n_f)).sqrt();
    Rate { value: Some(p), low: Some((centre - half).max(0.0)), high: Some((centre + half).min(1.0)), n }
}

/// A difference of two proportions with Newcombe's hybrid score interval
/// (his method 10): each proportion's Wilson bounds combined.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Difference {
    pub value: Option<f64>,
    pub low: Option<f64>,
    pub high: Option<f64>,
}

/// `first` − `second` (for the hold-out: rate(holdout) − rate(treatment)).
pub fn newcombe(first: &Rate, second: &Rate) -> Difference {
    let (Some((p1, l1, u1)), Some((p2, l2, u2))) = (first.bounds(), second.bounds()) else {
        return Difference { value: None, low: None, high: None };
    };
    let d = p1 - p2;
    let low = d - ((p1 - l1).powi(2) + (u2 - p2).powi(2)).sqrt();
    let high = d + ((u1 - p1).powi(2) + (p2 - l2).powi(2)).sqrt();
    // A difference of two rates lies in [-1, 1]; rounding in the Wilson
    // bounds can push a bound just past it (1/1 against 0/1).
    Difference { value: Some(d), low: Some(low.clamp(-1.0, 1.0)), high: Some(high.clamp(-1.0, 1.0)) }
}

/// An estimated count with bounds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Estimate {
    pub count: f64,
    pub low: f64,
    pub high: f64,
}

/// An exact count: its bounds are itself.
pub fn exact(count: u64) -> Estimate {
    let c = count as f64;
    Estimate { count: c, low: c, high: c }
}

/// `viewers` × the rate, with the rate's Wilson bounds carried through.
/// Without a measured rate the estimate is 0 (nothing is assumed).
pub fn scaled(viewers: u64, rate: &Rate) -> Estimate {
    match rate.bounds() {
        Some((value, low, high)) => {
            let v = viewers as f64;
            Estimate { count: v * value, low: v * low, high: v * high }
        }
        None => Estimate { count: 0.0, low: 0.0, high: 0.0 },
    }
}

/// Money, from a count at a cost per contact.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Cost {
    pub point: f64,
    pub low: f64,
    pub high: f64,
}

pub fn priced(estimate: &Estimate, cost_per_contact: f64) -> Cost {
    let round = |x: f64| (x * cost_per_contact * 100.0).round() / 100.0;
    Cost { point: round(estimate.count), low: round(estimate.low), high: round(estimate.high) }
}

/// A ratio of two counts (`null` when the denominator is 0).
pub fn ratio(numerator: u64, denominator: u64) -> Option<f64> {
    (denominator > 0).then(|| numerator as f64 / denominator as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tolerance: f64) -> bool {
        (a - b).abs() <= tolerance
    }

    #[test]
    fn z_values_match_the_tables() {
        assert!(close(z_for(0.95), 1.959_964, 1e-6));
        assert!(close(z_for(0.90), 1.644_854, 1e-6));
        assert!(close(z_for(0.99), 2.575_829, 1e-6));
    }

    #[test]
    fn wilson_intervals_match_hand_computation() {
        // 8 of 10 at 95 %: p = 0.8; centre = (0.8 + 1.92073) / 1.38415 ... by hand
        // (z² = 3.841459): centre 0.716738, half-width 0.226577.
        let r = wilson(8, 10, z_for(0.95));
        assert_eq!(r.value, Some(0.8));
        assert!(close(r.low.unwrap(), 0.490_161, 1e-5), "{r:?}");
        assert!(close(r.high.unwrap(), 0.943_315, 1e-5), "{r:?}");
        // 0 of 10: the interval starts at 0 and reaches 0.2775.
        let zero = wilson(0, 10, z_for(0.95));
        assert_eq!(zero.low, Some(0.0));
        assert!(close(zero.high.unwrap(), 0.277_533, 1e-5), "{zero:?}");
        // No observations: nothing to estimate.
        assert_eq!(wilson(0, 0, 1.96), Rate { value: None, low: None, high: None, n: 0 });
    }

    #[test]
    fn newcombe_matches_his_worked_example() {
        // Newcombe (1998), Statistics in Medicine 17:873, example (a):
        // 56/70 vs 48/80, method 10 gives 0.0524 to 0.3339.
        let z = z_for(0.95);
        let d = newcombe(&wilson(56, 70, z), &wilson(48, 80, z));
        assert!(close(d.value.unwrap(), 0.2, 1e-9));
        assert!(close(d.low.unwrap(), 0.0524, 1e-4), "{d:?}");
        assert!(close(d.high.unwrap(), 0.3339, 1e-4), "{d:?}");
        assert_eq!(newcombe(&wilson(0, 0, z), &wilson(1, 2, z)).value, None);
    }

    #[test]
    fn newcombe_bounds_stay_within_minus_one_and_one() {
        let z = z_for(0.95);
        for (a, b) in [((1, 1), (0, 1)), ((0, 1), (1, 1)), ((5, 5), (0, 7)), ((0, 3), (3, 3))] {
            let d = newcombe(&wilson(a.0, a.1, z), &wilson(b.0, b.1, z));
            let (low, high) = (d.low.unwrap(), d.high.unwrap());
            assert!((-1.0..=1.0).contains(&low) && (-1.0..=1.0).contains(&high), "{a:?} vs {b:?}: {d:?}");
            assert!(low <= d.value.unwrap() && d.value.unwrap() <= high);
        }
    }

    #[test]
    fn estimates_carry_bounds_and_prices_round_to_cents() {
        let rate = wilson(8, 10, z_for(0.95));
        let e = scaled(100, &rate);
        assert!(close(e.count, 80.0, 1e-9) && close(e.low, 49.0161, 1e-3) && close(e.high, 94.3315, 1e-3));
        assert_eq!(scaled(100, &wilson(0, 0, 1.96)), Estimate { count: 0.0, low: 0.0, high: 0.0 });
        assert_eq!(priced(&exact(3), 3.39), Cost { point: 10.17, low: 10.17, high: 10.17 });
        assert_eq!(ratio(3, 4), Some(0.75));
        assert_eq!(ratio(3, 0), None);
    }
}
