import Foundation

/// A 2-D affine map x ↦ M·x + t on the normalised square, with the exponential of the six
/// generators' coordinates (`AffineGenerator`'s order and scaling: translations carry 0.1) and
/// its logarithm, both in closed form, in double precision. The fidelity judge uses them to
/// say what a perfect reading of a turned source returns: the alignment's pose is one
/// exponential, exp(Σ εₖGₖ), so a source pose A under a planted turn R(φ) reads as
/// log(R(φ)·e^A), not as A turned (`FidelityCase.turned`).
struct PlaneAffine: Equatable {
    /// Row-major 2×2 linear part.
    var m: [Double]
    var t: [Double]

    /// exp(Σ εₖGₖ) for coordinates (translate_x, translate_y, rotation, scale, stretch, shear).
    static func exp(_ e: [Double]) -> PlaneAffine {
        let (linear, u) = algebra(e)
        return PlaneAffine(m: linearExp(linear), t: apply(integral(linear), to: u))
    }

    /// The coordinates ε with exp(Σ εₖGₖ) = self (the principal logarithm), or nil where there
    /// is none real (M with a real eigenvalue ≤ 0; a turn of exactly half a turn).
    func log() -> [Double]? {
        let half = (m[0] + m[3]) / 2
        let n = [m[0] - half, m[1], m[2], m[3] - half]                  // traceless part: N² = q·I
        let q = n[0] * n[0] + n[1] * n[2], determinant = m[0] * m[3] - m[1] * m[2]
        guard determinant > 0 else { return nil }
        let factor: Double
        if q < -1e-300 {
            let omega = (-q).squareRoot()
            factor = atan2(omega, half) / omega
        } else if q > 1e-300 {
            let omega = q.squareRoot()
            guard half > omega else { return nil }
            factor = atanh(omega / half) / omega
        } else {
            guard half > 0 else { return nil }
            factor = 1 / half
        }
        let scale = 0.5 * Foundation.log(determinant)
        let linear = [scale + factor * n[0], factor * n[1], factor * n[2], scale + factor * n[3]]
        guard let u = Self.solve(Self.integral(linear), t) else { return nil }
        return [u[0] / 0.1, u[1] / 0.1, (linear[2] - linear[1]) / 2, (linear[0] + linear[3]) / 2,
                (linear[0] - linear[3]) / 2, (linear[1] + linear[2]) / 2]
    }

    /// `lhs` after `rhs`: x ↦ lhs(rhs(x)).
    static func * (lhs: PlaneAffine, rhs: PlaneAffine) -> PlaneAffine {
        PlaneAffine(m: multiply(lhs.m, rhs.m), t: zip(apply(lhs.m, to: rhs.t), lhs.t).map { $0 + $1 })
    }

    /// The linear part Λ and the translation u of Σ εₖGₖ.
    private static func algebra(_ e: [Double]) -> (linear: [Double], u: [Double]) {
        let (r, s, d, h) = (e[2], e[3], e[4], e[5])
        return ([s + d, h - r, h + r, s - d], [0.1 * e[0], 0.1 * e[1]])
    }

    /// exp of a 2×2 matrix Λ = αI + N (N traceless, N² = q·I): e^α (C·I + S·N).
    private static func linearExp(_ a: [Double]) -> [Double] {
        let alpha = (a[0] + a[3]) / 2
        let n = [a[0] - alpha, a[1], a[2], a[3] - alpha]
        let q = n[0] * n[0] + n[1] * n[2]
        let (c, s): (Double, Double)
        if q < 0 {
            let omega = (-q).squareRoot()
            (c, s) = (cos(omega), sin(omega) / omega)
        } else if q > 0 {
            let omega = q.squareRoot()
            (c, s) = (cosh(omega), sinh(omega) / omega)
        } else {
            (c, s) = (1, 1)
        }
        let e = Foundation.exp(alpha)
        return [e * (c + s * n[0]), e * s * n[1], e * s * n[2], e * (c + s * n[3])]
    }

    /// ∫₀¹ exp(sΛ) ds (Simpson's rule, 16 intervals: the integrand is smooth and the widths
    /// small), which carries the algebra's translation to the map's: t = (∫ e^(sΛ) ds)·u.
    private static func integral(_ a: [Double]) -> [Double] {
        let intervals = 16
        var sum = [Double](repeating: 0, count: 4)
        for i in 0...intervals {
            let s = Double(i) / Double(intervals)
            let weight: Double = i == 0 || i == intervals ? 1 : (i % 2 == 1 ? 4 : 2)
            let e = linearExp(a.map { $0 * s })
            for k in 0..<4 { sum[k] += weight * e[k] }
        }
        return sum.map { $0 / (3 * Double(intervals)) }
    }

    private static func multiply(_ a: [Double], _ b: [Double]) -> [Double] {
        [a[0] * b[0] + a[1] * b[2], a[0] * b[1] + a[1] * b[3], a[2] * b[0] + a[3] * b[2], a[2] * b[1] + a[3] * b[3]]
    }

    private static func apply(_ a: [Double], to v: [Double]) -> [Double] { [a[0] * v[0] + a[1] * v[1], a[2] * v[0] + a[3] * v[1]] }

    /// a⁻¹·v, or nil for a singular a.
    private static func solve(_ a: [Double], _ v: [Double]) -> [Double]? {
        let determinant = a[0] * a[3] - a[1] * a[2]
        guard abs(determinant) > 1e-300 else { return nil }
        return [(a[3] * v[0] - a[1] * v[1]) / determinant, (a[0] * v[1] - a[2] * v[0]) / determinant]
    }
}
