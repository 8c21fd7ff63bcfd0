//! Math functions. They follow Java's `Math` (Siddhi's semantics): a result outside the
//! function's domain is NaN (`sqrt(-1)`, `ln(-1)`), which prints as `null`, not an error.

/// Numbers that have an absolute value: INT, LONG, FLOAT, DOUBLE.
pub trait Abs: Copy {
    /// The absolute value; the most negative integer stays itself, as in Java.
    fn abs_value(self) -> Self;
}

impl Abs for i32 {
    #[inline]
    fn abs_value(self) -> Self {
        self.wrapping_abs()
    }
}

impl Abs for i64 {
    #[inline]
    fn abs_value(self) -> Self {
        self.wrapping_abs()
    }
}

impl Abs for f32 {
    #[inline]
    fn abs_value(self) -> Self {
        self.abs()
    }
}

impl Abs for f64 {
    #[inline]
    fn abs_value(self) -> Self {
        self.abs()
    }
}

/// `abs(x)` for INT, LONG, FLOAT or DOUBLE; the result has the argument's type.
#[inline]
pub fn abs<T: Abs>(x: Option<T>) -> Option<T> {
    x.map(Abs::abs_value)
}

macro_rules! unary_f64 {
    ($($(#[$doc:meta])* $name:ident => $method:ident;)*) => {$(
        $(#[$doc])*
        #[inline]
        pub fn $name(x: Option<f64>) -> Option<f64> {
            x.map(f64::$method)
        }
    )*};
}

unary_f64! {
    /// `ceil(x)`: the smallest integral value not below `x`.
    ceil => ceil;
    /// `floor(x)`: the largest integral value not above `x`.
    floor => floor;
    /// `sqrt(x)`: square root (NaN for negative `x`).
    sqrt => sqrt;
    /// `exp(x)`: e raised to `x`.
    exp => exp;
    /// `ln(x)`: natural logarithm (NaN for negative `x`, -infinity for 0).
    ln => ln;
    /// `log10(x)`: base-10 logarithm.
    log10 => log10;
    /// `sin(x)`, `x` in radians.
    sin => sin;
    /// `cos(x)`, `x` in radians.
    cos => cos;
    /// `tan(x)`, `x` in radians.
    tan => tan;
    /// `asin(x)`, in radians (NaN outside [-1, 1]).
    asin => asin;
    /// `acos(x)`, in radians (NaN outside [-1, 1]).
    acos => acos;
    /// `atan(x)`, in radians.
    atan => atan;
}

/// `round(x)`: the closest LONG, ties rounded up (toward positive infinity), exactly as
/// Java's `Math.round(double)`: `round(2.5) = 3`, `round(-2.5) = -2`. Out of range
/// saturates; NaN gives NULL.
#[inline]
pub fn round(x: Option<f64>) -> Option<i64> {
    let x = x.filter(|x| !x.is_nan())?;
    let f = x.floor();
    // `x - floor(x)` is exact, so this avoids the error of `floor(x + 0.5)` near 0.5.
    let r = if x - f >= 0.5 { f + 1.0 } else { f };
    Some(r as i64)
}

/// `round(x)` of a FLOAT: the closest INT, as Java's `Math.round(float)`.
#[inline]
pub fn round_f32(x: Option<f32>) -> Option<i32> {
    let x = x.filter(|x| !x.is_nan())?;
    let f = x.floor();
    let r = if x - f >= 0.5 { f + 1.0 } else { f };
    Some(r as i32)
}

/// `power(x, y)`: `x` raised to `y`.
#[inline]
pub fn power(x: Option<f64>, y: Option<f64>) -> Option<f64> {
    Some(x?.powf(y?))
}

/// `signum(x)`: -1.0, 0.0 (keeping the sign of a zero) or 1.0; NaN stays NaN.
#[inline]
pub fn signum(x: Option<f64>) -> Option<f64> {
    x.map(|x| {
        if x == 0.0 || x.is_nan() {
            x
        } else {
            x.signum()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-12)
    }

    #[test]
    fn abs_keeps_the_type() {
        assert_eq!(abs(Some(-3i32)), Some(3));
        assert_eq!(abs(Some(i32::MIN)), Some(i32::MIN));
        assert_eq!(abs(Some(-9_000_000_000i64)), Some(9_000_000_000));
        assert_eq!(abs(Some(-1.5f32)), Some(1.5));
        assert_eq!(abs(Some(-0.0f64)).map(f64::is_sign_positive), Some(true));
        assert_eq!(abs(None::<i64>), None);
    }

    #[test]
    fn rounding_like_java() {
        assert_eq!(ceil(Some(1.2)), Some(2.0));
        assert_eq!(ceil(Some(-1.2)), Some(-1.0));
        assert_eq!(floor(Some(-1.2)), Some(-2.0));
        assert_eq!(round(Some(2.5)), Some(3));
        assert_eq!(round(Some(-2.5)), Some(-2));
        assert_eq!(round(Some(-2.6)), Some(-3));
        assert_eq!(round(Some(2.4)), Some(2));
        assert_eq!(round(Some(0.49999999999999994)), Some(0));
        assert_eq!(round(Some(4503599627370497.0)), Some(4503599627370497));
        assert_eq!(round(Some(1e300)), Some(i64::MAX));
        assert_eq!(round(Some(f64::NEG_INFINITY)), Some(i64::MIN));
        assert_eq!(round(Some(f64::NAN)), None);
        assert_eq!(round_f32(Some(-0.5)), Some(0));
        assert_eq!(round_f32(Some(1.5)), Some(2));
        assert_eq!(round_f32(Some(f32::NAN)), None);
        assert_eq!(
            (ceil(None), floor(None), round(None), round_f32(None)),
            (None, None, None, None)
        );
    }

    #[test]
    fn transcendental() {
        assert_eq!(sqrt(Some(9.0)), Some(3.0));
        assert!(sqrt(Some(-1.0)).unwrap().is_nan());
        assert!(close(exp(Some(1.0)), std::f64::consts::E));
        assert!(close(ln(Some(std::f64::consts::E)), 1.0));
        assert_eq!(ln(Some(0.0)), Some(f64::NEG_INFINITY));
        assert!(close(log10(Some(1000.0)), 3.0));
        assert!(close(sin(Some(std::f64::consts::FRAC_PI_2)), 1.0));
        assert!(close(cos(Some(0.0)), 1.0));
        assert!(close(tan(Some(std::f64::consts::FRAC_PI_4)), 1.0));
        assert!(close(asin(Some(1.0)), std::f64::consts::FRAC_PI_2));
        assert!(close(acos(Some(1.0)), 0.0));
        assert!(close(atan(Some(1.0)), std::f64::consts::FRAC_PI_4));
        assert!(asin(Some(2.0)).unwrap().is_nan());
        let all = [sqrt, exp, ln, log10, sin, cos, tan, asin, acos, atan];
        assert!(all.iter().all(|f| f(None).is_none()));
    }

    #[test]
    fn power_and_signum() {
        assert_eq!(power(Some(2.0), Some(10.0)), Some(1024.0));
        assert_eq!(power(Some(4.0), Some(0.5)), Some(2.0));
        assert_eq!(power(Some(2.0), None), None);
        assert_eq!(power(None, Some(2.0)), None);
        assert_eq!(signum(Some(-3.5)), Some(-1.0));
        assert_eq!(signum(Some(7.0)), Some(1.0));
        assert_eq!(signum(Some(0.0)), Some(0.0));
        assert!(signum(Some(-0.0)).unwrap().is_sign_negative());
        assert!(signum(Some(f64::NAN)).unwrap().is_nan());
        assert_eq!(signum(None), None);
    }
}
