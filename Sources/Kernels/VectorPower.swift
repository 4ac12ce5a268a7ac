// q^γ for eight values at once, for the photometric kernels' gamma: exp2(γ·log2 q), each half
// by a short polynomial on the float's own exponent and mantissa (libm's powf, one value at a
// time, was a third of the photometric forward pass's time). Each half is accurate to a
// few units in the last place; q^γ to 10⁻⁶ of itself wherever it is at least 10⁻⁴ (the float
// product γ·log2 q rounds), which the tests check against pow in Double.

/// The lanes the photometric kernels work in: eight, two SSE registers. The Kernels module is
/// built for the baseline x86-64 ISA, where sixteen lanes spilled to the stack and ran slower
/// than libm one value at a time (perf: the forward pass 10% of a simpleconv step's samples
/// against 3.2% before), four took 1.7% and eight 1.2%.
typealias FloatLanes = SIMD8<Float>
typealias IntLanes = SIMD8<Int32>
let laneCount = FloatLanes.scalarCount

/// The standard library's `pointwiseMin`, `pointwiseMax` and `clamped` on lanes, lane for lane
/// the same values (`Float.minimum(a, b)`: a where a ≤ b or b is NaN, else b; `maximum`: a where
/// a > b or b is NaN, else b; `clamped` = minimum(upper, maximum(lower, x))), written as one
/// compare and one select: the library's versions loop over the lanes through `Float.minimum`
/// and were left as calls (perf: 31% of a pixel-by-pixel photometric reading's samples in them).
@inline(__always)
func lanesMinimum(_ a: FloatLanes, _ b: FloatLanes) -> FloatLanes { b.replacing(with: a, where: (a .<= b) .| (b .!= b)) }
@inline(__always)
func lanesMaximum(_ a: FloatLanes, _ b: FloatLanes) -> FloatLanes { b.replacing(with: a, where: (a .> b) .| (b .!= b)) }
@inline(__always)
func lanesClamped(_ x: FloatLanes, _ lower: FloatLanes, _ upper: FloatLanes) -> FloatLanes {
    lanesMinimum(upper, lanesMaximum(lower, x))
}

/// 1.5·2²³: a float whose last mantissa bit weighs 1, so adding it rounds to an integer that
/// then sits in the low bits of its pattern.
private let roundingMagic: Float = 12_582_912

/// log₂ x for positive normal x (x = m·2ᵉ, m ∈ [√½, √2); ln m = 2·atanh((m − 1)/(m + 1)) by its
/// series to the ninth power: |(m − 1)/(m + 1)| ≤ 0.172, so the next term is below 10⁻⁹).
@inline(__always)
func vectorLog2(_ x: FloatLanes) -> FloatLanes {
    let bits = unsafeBitCast(x, to: IntLanes.self)
    var exponent = (bits &>> 23) &- 127
    var mantissa = unsafeBitCast((bits & 0x007F_FFFF) | 0x3F80_0000, to: FloatLanes.self)
    let large = mantissa .> 1.414_213_5
    mantissa.replace(with: mantissa * 0.5, where: large)
    exponent &+= IntLanes(repeating: 0).replacing(with: 1, where: large)
    // The exponent as a float, through the rounding constant's pattern.
    let exponentFloat = unsafeBitCast(exponent &+ unsafeBitCast(FloatLanes(repeating: roundingMagic), to: IntLanes.self),
                                      to: FloatLanes.self) - roundingMagic
    let f = (mantissa - 1) / (mantissa + 1), f2 = f * f
    var series = FloatLanes(repeating: 1 / 9)
    series = series * f2 + 1 / 7
    series = series * f2 + 1 / 5
    series = series * f2 + 1 / 3
    series = series * f2 + 1
    return exponentFloat + (2 * f * series) * 1.442_695_04
}

/// 2^y for y ≤ 127; below −126 it gives 2⁻¹²⁶·2^(y − n) with n clamped, a value under 10⁻³⁷
/// (y = n + r, |r| ≤ ½, 2^r by exp's series in r·ln 2 to the eighth power).
@inline(__always)
func vectorExp2(_ y: FloatLanes) -> FloatLanes {
    let clamped = lanesClamped(y, FloatLanes(repeating: -126), FloatLanes(repeating: 127))
    let shifted = clamped + roundingMagic
    let whole = shifted - roundingMagic
    let n = unsafeBitCast(shifted, to: IntLanes.self) &- unsafeBitCast(FloatLanes(repeating: roundingMagic), to: IntLanes.self)
    let t = (clamped - whole) * 0.693_147_18
    var series = FloatLanes(repeating: 1 / 40320)
    series = series * t + 1 / 5040
    series = series * t + 1 / 720
    series = series * t + 1 / 120
    series = series * t + 1 / 24
    series = series * t + 1 / 6
    series = series * t + 0.5
    series = series * t + 1
    series = series * t + 1
    return series * unsafeBitCast((n &+ 127) &<< 23, to: FloatLanes.self)
}

/// q^γ lane by lane for q ≥ 0 (0 where q is 0 or below the smallest normal float).
@inline(__always)
func vectorPower(_ q: FloatLanes, _ gamma: Float) -> FloatLanes {
    let positive = q .>= Float.leastNormalMagnitude
    let safe = q.replacing(with: 1, where: .!positive)
    return vectorExp2(gamma * vectorLog2(safe)).replacing(with: 0, where: .!positive)
}

/// Up to `laneCount` floats from `p` (the lanes past `count` are 0).
@inline(__always)
func loadLanes(_ p: UnsafePointer<Float>, count: Int) -> FloatLanes {
    if count >= laneCount { return UnsafeRawPointer(p).loadUnaligned(as: FloatLanes.self) }
    var v = FloatLanes(repeating: 0)
    for k in 0..<count { v[k] = p[k] }
    return v
}

/// The first `count` (up to `laneCount`) lanes of `v` into `p`.
@inline(__always)
func storeLanes(_ v: FloatLanes, _ p: UnsafeMutablePointer<Float>, count: Int) {
    if count >= laneCount {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: FloatLanes.self)
        return
    }
    for k in 0..<count { p[k] = v[k] }
}
