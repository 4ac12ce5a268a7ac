import Foundation

// Brightness, contrast, saturation, hue and gamma, one factor of each per image, applied as
// torchvision's adjust_brightness, adjust_contrast, adjust_saturation, adjust_hue and
// adjust_gamma apply them to float images in [0, 1], in that order. Shape letters: N batch, C
// channels, H×W plane; factors N×5 in `photometricFactorCount`'s order: (β brightness, κ
// contrast, γ gamma, σ saturation, η hue), β, κ, γ, σ > 0 with 1 leaving the image as it was, η
// a turn of the hue in radians (0 leaves it). Saturation and hue act on three channels only
// (red, green, blue); with any other count σ and η are ignored and their gradients are 0.
//
// The network sees standardised values x; the adjustment works on p = x·gain + offset (the data's
// range mapped onto [0, 1]) and gives back y = (q₅ − offset)/gain:
//   q₁ = clamp(β·p)                         brightness
//   m  = mean over the plane of gray(q₁)    gray: 0.2989 R + 0.587 G + 0.114 B for three
//                                           channels (torchvision's), the channels' mean otherwise
//   q₂ = clamp(m + κ·(q₁ − m))              contrast
//   q₃ = clamp(g + σ·(q₂ − g))              saturation; g = gray(q₂) of the same pixel
//   q₄ = hsv⁻¹(h + η/2π mod 1, s, v)        hue; (h, s, v) = hsv(q₃), as torchvision converts
//   q₅ = q₄^γ                               gamma
// The hue turn keeps each pixel's largest and smallest channel (M, m′) and moves the third
// between them: channel c of q₄ is M − (M − m′)·φ(k_c), k_c = (n_c + 6·h′) mod 6 with n = 5, 3, 1
// for red, green, blue and φ(k) = clamp(min(k, 4 − k), 0, 1). A gray pixel (M = m′) has no hue
// and is left as it is (its gradient passes straight through).
// The forward pass takes q₄^γ eight pixels at a time by `VectorPower` (within 10⁻⁶ of itself
// wherever it is at least 10⁻⁴; libm's powf, one value at a time, was a third of the pass's time).
// Gradients pass a clamp where its argument lies in [0, 1], bounds included (as PyTorch's
// clamp); ∂q₅/∂q₄ and ∂q₅/∂γ are taken as 0 where q₄ = 0 (as PyTorch's pow does for the
// exponent; for the base it would give γ·0^(γ−1), infinite for γ < 1). Backward functions add
// into their gradient buffers.

/// Factors per image: β, κ, γ, σ, η (the order of Invariance's `PhotometricFamily`).
public let photometricFactorCount = 5

/// Geometry of a photometric adjustment.
public struct PhotometricShape: Sendable, Equatable {
    public var batch: Int, channels: Int, height: Int, width: Int

    public init(batch: Int, channels: Int, height: Int, width: Int) {
        (self.batch, self.channels, self.height, self.width) = (batch, channels, height, width)
    }

    var plane: Int { height * width }

    func validate() {
        precondition(batch >= 0 && channels > 0 && height > 0 && width > 0, "photometricAdjust: sizes must be positive: \(self)")
    }

    /// Channel c's weight in the plane's gray mean (the weights sum to 1).
    func grayWeight(_ c: Int) -> Float {
        guard channels == 3 else { return 1 / Float(channels) }
        return [0.2989, 0.587, 0.114][c]
    }
}

/// How standardised values map onto [0, 1]: p = x·gain + offset (gain > 0).
public struct PhotometricRange: Sendable, Equatable {
    public var gain: Float, offset: Float

    public init(gain: Float, offset: Float) {
        precondition(gain > 0 && gain.isFinite && offset.isFinite, "photometricAdjust: the range needs a finite gain > 0, got \(gain), \(offset)")
        (self.gain, self.offset) = (gain, offset)
    }

    /// The range of standardised data whose raw values (before x = (raw − mean)/std) span
    /// [low, high].
    public init(standardisedWithMean mean: Float, std: Float, low: Float, high: Float) {
        self.init(gain: std / (high - low), offset: (mean - low) / (high - low))
    }
}

@inline(__always) private func clamp01(_ v: Float) -> Float { min(max(v, 0), 1) }

/// m for image n: the plane's gray mean of q₁ = clamp(β·p).
@inline(__always)
private func contrastMean(_ shape: PhotometricShape, image: UnsafePointer<Float>, beta: Float, range: PhotometricRange) -> Float {
    var total = 0.0
    for c in 0..<shape.channels {
        let plane = image + c * shape.plane
        var sum: Float = 0
        for i in 0..<shape.plane { sum += clamp01(beta * (plane[i] * range.gain + range.offset)) }
        total += Double(shape.grayWeight(c)) * Double(sum)
    }
    return Float(total / Double(shape.plane))
}

/// The hue turn's share φ(k) = clamp(min(k, 4 − k), 0, 1) of a channel at position k ∈ [0, 6)
/// around the hexagon, and its slope dφ/dk.
@inline(__always)
private func hueShare(_ k: Float) -> (value: Float, slope: Float) {
    if k < 1 { return (k, 1) }
    if k < 3 { return (1, 0) }
    if k < 4 { return (4 - k, -1) }
    return (0, 0)
}

/// One pixel's hue, as 6·h ∈ [0, 6) from torchvision's rgb→hsv, with its derivatives in
/// (r, g, b), for a pixel whose channels are not all equal (chroma c > 0).
@inline(__always)
private func hexHue(_ r: Float, _ g: Float, _ b: Float, maximum: Float, chroma c: Float) -> (value: Float, dr: Float, dg: Float, db: Float) {
    // The largest channel picks the sector (red first on ties, then green, as torchvision);
    // the chroma's own derivative goes to the largest and the smallest channel.
    let smallest: Int = r <= g && r <= b ? 0 : (g <= b ? 1 : 2)
    var h: Float, dr: Float, dg: Float, db: Float
    if maximum == r {
        (h, dr, dg, db) = ((g - b) / c, 0, 1 / c, -1 / c)
        let dc = -(g - b) / (c * c)
        dr += dc
        if smallest == 1 { dg -= dc } else if smallest == 2 { db -= dc }
    } else if maximum == g {
        (h, dr, dg, db) = (2 + (b - r) / c, -1 / c, 0, 1 / c)
        let dc = -(b - r) / (c * c)
        dg += dc
        if smallest == 0 { dr -= dc } else if smallest == 2 { db -= dc }
    } else {
        (h, dr, dg, db) = (4 + (r - g) / c, 1 / c, -1 / c, 0)
        let dc = -(r - g) / (c * c)
        db += dc
        if smallest == 0 { dr -= dc } else if smallest == 1 { dg -= dc }
    }
    if h < 0 { h += 6 }
    return (h, dr, dg, db)
}

/// A turn of the hue by η radians, in sixths of the circle reduced to [0, 6).
@inline(__always)
private func sixthsOfTurn(_ eta: Float) -> Float {
    let sixths = eta * 3 / .pi
    let reduced = sixths - 6 * (sixths / 6).rounded(.down)
    return reduced < 6 ? reduced : 0
}

/// The hexagon position (n_c + 6·h′) mod 6 of channel `channel` (0 red, 1 green, 2 blue) after
/// a turn of `turn` sixths in [0, 6) (`sixthsOfTurn`): the sum lies in [0, 17), so two
/// subtractions reduce it (a division's remainder cost more than the rest of the pixel's hue).
@inline(__always)
private func huePosition(_ hex: Float, channel: Int, turn: Float) -> Float {
    var k = Float(5 - 2 * channel) + hex + turn
    if k >= 6 { k -= 6 }
    if k >= 6 { k -= 6 }
    return k
}

/// q₂ of `laneCount` values from `p` (count of them real): contrast after brightness, as the
/// kernel's header writes them.
@inline(__always)
private func contrastLanes(_ p: UnsafePointer<Float>, count: Int, beta: Float, kappa: Float, mean m: Float, range: PhotometricRange) -> FloatLanes {
    let (zero, one) = (FloatLanes(repeating: 0), FloatLanes(repeating: 1))
    let q1 = lanesClamped(beta * (loadLanes(p, count: count) * range.gain + range.offset), zero, one)
    return lanesClamped(m + kappa * (q1 - m), zero, one)
}

/// `laneCount` outputs y = (q₄^γ − offset)/gain into `p` (count of them real).
@inline(__always)
private func storePowered(_ q: FloatLanes, _ p: UnsafeMutablePointer<Float>, count: Int, gamma: Float, range: PhotometricRange) {
    storeLanes(((gamma == 1 ? q : vectorPower(q, gamma)) - range.offset) / range.gain, p, count: count)
}

/// One channel of `laneCount` pixels after the hue turn: M − C·φ(k) at k = `huePosition`'s.
@inline(__always)
private func turnedChannel(_ channel: Int, hex: FloatLanes, turn: Float, maximum: FloatLanes, chroma: FloatLanes) -> FloatLanes {
    var k = Float(5 - 2 * channel) + hex + turn
    k.replace(with: k - 6, where: k .>= 6)
    k.replace(with: k - 6, where: k .>= 6)
    let share = lanesClamped(lanesMinimum(k, 4 - k), FloatLanes(repeating: 0), FloatLanes(repeating: 1))
    return maximum - chroma * share
}

/// Saturation and hue of `laneCount` pixels (q₂ → q₄), in place on red, green and blue, as
/// `hexHue`, `huePosition` and `hueShare` compute them one pixel at a time (the same
/// operations in the same order, so the same bits).
@inline(__always)
private func saturateAndTurn(_ r: inout FloatLanes, _ g: inout FloatLanes, _ b: inout FloatLanes, sigma: Float, turn: Float) {
    let (zero, one) = (FloatLanes(repeating: 0), FloatLanes(repeating: 1))
    if sigma != 1 {
        let gray = 0.2989 * r + 0.587 * g + 0.114 * b
        r = lanesClamped(gray + sigma * (r - gray), zero, one)
        g = lanesClamped(gray + sigma * (g - gray), zero, one)
        b = lanesClamped(gray + sigma * (b - gray), zero, one)
    }
    guard turn != 0 else { return }
    let maximum = lanesMaximum(lanesMaximum(r, g), b)
    let c = maximum - lanesMinimum(lanesMinimum(r, g), b)
    let gray = c .<= 0   // no hue: left as it is
    let chroma = c.replacing(with: 1, where: gray)
    // The largest channel picks the sector, red first on ties, then green.
    let redLargest = maximum .== r, greenLargest = maximum .== g
    var hex = 4 + (r - g) / chroma
    hex.replace(with: 2 + (b - r) / chroma, where: greenLargest)
    hex.replace(with: (g - b) / chroma, where: redLargest)
    hex.replace(with: hex + 6, where: hex .< 0)
    let turnedRed = turnedChannel(0, hex: hex, turn: turn, maximum: maximum, chroma: c)
    let turnedGreen = turnedChannel(1, hex: hex, turn: turn, maximum: maximum, chroma: c)
    let turnedBlue = turnedChannel(2, hex: hex, turn: turn, maximum: maximum, chroma: c)
    r.replace(with: turnedRed, where: .!gray)
    g.replace(with: turnedGreen, where: .!gray)
    b.replace(with: turnedBlue, where: .!gray)
}

/// output (N×C×H×W) = the input adjusted by each image's factors (N×5), `laneCount` pixels at a time.
public func photometricForward(_ shape: PhotometricShape, input: UnsafePointer<Float>, factors: UnsafePointer<Float>,
                               range: PhotometricRange, output: UnsafeMutablePointer<Float>, parallelism: Parallelism) {
    shape.validate()
    let size = shape.channels * shape.plane, plane = shape.plane
    parallelism.forEach(shape.batch, grain: max(1, 16384 / max(1, size))) { n in
        let f = factors + n * photometricFactorCount
        let (beta, kappa, gamma, sigma, turn) = (f[0], f[1], f[2], f[3], sixthsOfTurn(f[4]))
        let image = input + n * size, out = output + n * size
        let m = contrastMean(shape, image: image, beta: beta, range: range)
        if shape.channels == 3 && (sigma != 1 || turn != 0) {
            var i = 0
            while i < plane {
                let count = min(laneCount, plane - i)
                var r = contrastLanes(image + i, count: count, beta: beta, kappa: kappa, mean: m, range: range)
                var g = contrastLanes(image + plane + i, count: count, beta: beta, kappa: kappa, mean: m, range: range)
                var b = contrastLanes(image + 2 * plane + i, count: count, beta: beta, kappa: kappa, mean: m, range: range)
                saturateAndTurn(&r, &g, &b, sigma: sigma, turn: turn)
                storePowered(r, out + i, count: count, gamma: gamma, range: range)
                storePowered(g, out + plane + i, count: count, gamma: gamma, range: range)
                storePowered(b, out + 2 * plane + i, count: count, gamma: gamma, range: range)
                i += laneCount
            }
        } else {
            for c in 0..<shape.channels {
                var i = c * plane
                while i < (c + 1) * plane {
                    let count = min(laneCount, (c + 1) * plane - i)
                    storePowered(contrastLanes(image + i, count: count, beta: beta, kappa: kappa, mean: m, range: range), out + i,
                                 count: count, gamma: gamma, range: range)
                    i += laneCount
                }
            }
        }
    }
}

/// Adds ∂L/∂input into `gradInput` and ∂L/∂factors into `gradFactors` (either may be nil),
/// given the forward pass's `output` (its q₅, so no power is taken again) and gradOutput
/// (N×C×H×W). Work is split over the batch.
public func photometricBackward(_ shape: PhotometricShape, input: UnsafePointer<Float>, factors: UnsafePointer<Float>,
                                range: PhotometricRange, output: UnsafePointer<Float>, gradOutput: UnsafePointer<Float>,
                                gradInput: UnsafeMutablePointer<Float>?, gradFactors: UnsafeMutablePointer<Float>?, parallelism: Parallelism) {
    shape.validate()
    let size = shape.channels * shape.plane, plane = shape.plane
    parallelism.forEach(shape.batch, grain: max(1, 8192 / max(1, size))) { n in
        let f = factors + n * photometricFactorCount
        let (beta, kappa, gamma, sigma, eta) = (f[0], f[1], f[2], f[3], f[4])
        let image = input + n * size, dy = gradOutput + n * size, y = output + n * size
        let m = contrastMean(shape, image: image, beta: beta, range: range)
        ScratchBuffers.with(floats: size) { gradPre2 in
            var gGamma = 0.0, gKappa = 0.0, gMean = 0.0, gSigma = 0.0, gEta = 0.0
            /// Through gamma: ∂L/∂q₄ of element i (q₄ recovered from the output).
            func throughGamma(_ i: Int, _ q4: Float) -> Float {
                let gq5 = dy[i] / range.gain
                guard q4 > 0 else { return 0 }
                let q5 = y[i] * range.gain + range.offset
                gGamma += Double(gq5 * q5 * log(q4))
                return gq5 * gamma * q5 / q4
            }
            /// Through contrast's clamp: records ∂L/∂(m + κ(q₁ − m)) of element i and the sums for ∂κ, ∂m.
            func throughContrast(_ i: Int, _ gq2: Float) {
                let q1 = clamp01(beta * (image[i] * range.gain + range.offset))
                let pre2 = m + kappa * (q1 - m)
                let g = pre2 >= 0 && pre2 <= 1 ? gq2 : 0
                gradPre2[i] = g
                gKappa += Double(g * (q1 - m))
                gMean += Double(g)
            }
            let contrast = { (i: Int) -> Float in clamp01(m + kappa * (clamp01(beta * (image[i] * range.gain + range.offset)) - m)) }
            if shape.channels == 3 && (sigma != 1 || eta != 0 || gradFactors != nil) {
                let turn = sixthsOfTurn(eta)
                for i in 0..<plane {
                    let q2 = SIMD3<Float>(contrast(i), contrast(plane + i), contrast(2 * plane + i))
                    // Saturation, forward again (its clamps' arguments are needed).
                    let g = 0.2989 * q2[0] + 0.587 * q2[1] + 0.114 * q2[2]
                    let pre3 = g + sigma * (q2 - g)
                    let q3 = pre3.clamped(lowerBound: SIMD3(repeating: 0), upperBound: SIMD3(repeating: 1))
                    let maximum = q3.max(), chroma = maximum - q3.min()
                    var gq3 = SIMD3<Float>(repeating: 0)
                    if chroma > 0 {
                        // q₄_c = M − C·φ(k_c), k_c = n_c + 6h + 6η/2π: through M, C and h.
                        let hue = hexHue(q3[0], q3[1], q3[2], maximum: maximum, chroma: chroma)
                        let top = q3[0] == maximum ? 0 : (q3[1] == maximum ? 1 : 2)
                        let bottom = q3[0] <= q3[1] && q3[0] <= q3[2] ? 0 : (q3[1] <= q3[2] ? 1 : 2)
                        var gMaximum: Float = 0, gChroma: Float = 0, gHex: Float = 0
                        for c in 0..<3 {
                            let share = hueShare(huePosition(hue.value, channel: c, turn: turn))
                            let gq4 = throughGamma(c * plane + i, maximum - chroma * share.value)
                            gMaximum += gq4
                            gChroma -= gq4 * share.value
                            gHex -= gq4 * chroma * share.slope
                        }
                        gEta += Double(gHex * 3 / .pi)
                        gq3[top] += gMaximum + gChroma
                        gq3[bottom] -= gChroma
                        gq3 += gHex * SIMD3(hue.dr, hue.dg, hue.db)
                    } else {
                        for c in 0..<3 { gq3[c] = throughGamma(c * plane + i, q3[c]) }
                    }
                    // Through saturation's clamps: ∂q₃_c/∂q₂_d = σ·[c = d] + (1 − σ)·w_d, ∂q₃_c/∂σ = q₂_c − g.
                    var passed: Float = 0
                    for c in 0..<3 where pre3[c] >= 0 && pre3[c] <= 1 {
                        passed += gq3[c]
                        gSigma += Double(gq3[c] * (q2[c] - g))
                    }
                    for c in 0..<3 {
                        let own = pre3[c] >= 0 && pre3[c] <= 1 ? sigma * gq3[c] : 0
                        throughContrast(c * plane + i, own + (1 - sigma) * shape.grayWeight(c) * passed)
                    }
                }
            } else {
                for i in 0..<size { throughContrast(i, throughGamma(i, contrast(i))) }
            }
            // ∂m/∂q₁ = gray weight / plane; ∂(m + κ(q₁ − m))/∂m = 1 − κ.
            let meanShare = Float(gMean) * (1 - kappa) / Float(shape.plane)
            var gBeta = 0.0
            for c in 0..<shape.channels {
                let fromMean = meanShare * shape.grayWeight(c)
                for i in (c * shape.plane)..<((c + 1) * shape.plane) {
                    let p = image[i] * range.gain + range.offset
                    let pre1 = beta * p
                    guard pre1 >= 0 && pre1 <= 1 else { continue }
                    let gq1 = kappa * gradPre2[i] + fromMean
                    gBeta += Double(gq1 * p)
                    gradInput?[n * size + i] += gq1 * beta * range.gain
                }
            }
            if let gradFactors {
                let gf = gradFactors + n * photometricFactorCount
                gf[0] += Float(gBeta)
                gf[1] += Float(gKappa)
                gf[2] += Float(gGamma)
                gf[3] += Float(gSigma)
                gf[4] += Float(gEta)
            }
        }
    }
}
