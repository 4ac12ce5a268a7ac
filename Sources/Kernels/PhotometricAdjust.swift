import Foundation

// Brightness, contrast and gamma, one factor of each per image, applied as torchvision's
// adjust_brightness, adjust_contrast and adjust_gamma apply them to float images in [0, 1], in
// that order, each clamped to [0, 1]. Shape letters: N batch, C channels, H×W plane; factors
// N×3: (β brightness, κ contrast, γ gamma), each > 0, 1 leaving the image as it was.
//
// The network sees standardised values x; the adjustment works on p = x·gain + offset (the data's
// range mapped onto [0, 1]) and gives back y = (q₃ − offset)/gain:
//   q₁ = clamp(β·p)                         brightness
//   m  = mean over the plane of gray(q₁)    gray: 0.2989 R + 0.587 G + 0.114 B for three
//                                           channels (torchvision's), the channels' mean otherwise
//   q₂ = clamp(m + κ·(q₁ − m))              contrast
//   q₃ = q₂^γ                               gamma
// Gradients pass a clamp where its argument lies in [0, 1], bounds included (as PyTorch's
// clamp); ∂q₃/∂q₂ and ∂q₃/∂γ are taken as 0 where q₂ = 0 (as PyTorch's pow does for the
// exponent; for the base it would give γ·0^(γ−1), infinite for γ < 1). Backward functions add
// into their gradient buffers.

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

/// output (N×C×H×W) = the input adjusted by each image's factors (N×3).
public func photometricForward(_ shape: PhotometricShape, input: UnsafePointer<Float>, factors: UnsafePointer<Float>,
                               range: PhotometricRange, output: UnsafeMutablePointer<Float>, parallelism: Parallelism) {
    shape.validate()
    let size = shape.channels * shape.plane
    parallelism.forEach(shape.batch, grain: max(1, 16384 / max(1, size))) { n in
        let (beta, kappa, gamma) = (factors[n * 3], factors[n * 3 + 1], factors[n * 3 + 2])
        let image = input + n * size, out = output + n * size
        let m = contrastMean(shape, image: image, beta: beta, range: range)
        for i in 0..<size {
            let q1 = clamp01(beta * (image[i] * range.gain + range.offset))
            let q2 = clamp01(m + kappa * (q1 - m))
            let q3 = gamma == 1 ? q2 : (q2 > 0 ? pow(q2, gamma) : 0)
            out[i] = (q3 - range.offset) / range.gain
        }
    }
}

/// Adds ∂L/∂input into `gradInput` and ∂L/∂factors into `gradFactors` (either may be nil),
/// given the forward pass's `output` (its q₃, so no power is taken again) and gradOutput
/// (N×C×H×W). Work is split over the batch.
public func photometricBackward(_ shape: PhotometricShape, input: UnsafePointer<Float>, factors: UnsafePointer<Float>,
                                range: PhotometricRange, output: UnsafePointer<Float>, gradOutput: UnsafePointer<Float>,
                                gradInput: UnsafeMutablePointer<Float>?, gradFactors: UnsafeMutablePointer<Float>?, parallelism: Parallelism) {
    shape.validate()
    let size = shape.channels * shape.plane
    parallelism.forEach(shape.batch, grain: max(1, 8192 / max(1, size))) { n in
        let (beta, kappa, gamma) = (factors[n * 3], factors[n * 3 + 1], factors[n * 3 + 2])
        let image = input + n * size, dy = gradOutput + n * size, y = output + n * size
        let m = contrastMean(shape, image: image, beta: beta, range: range)
        ScratchBuffers.with(floats: size) { gradPre2 in
            // Through gamma and contrast's clamp: ∂L/∂(m + κ(q₁ − m)) per pixel, and the sums
            // for ∂γ, ∂κ and ∂m.
            var gGamma = 0.0, gKappa = 0.0, gMean = 0.0
            for i in 0..<size {
                let q1 = clamp01(beta * (image[i] * range.gain + range.offset))
                let pre2 = m + kappa * (q1 - m)
                let q2 = clamp01(pre2)
                let gq3 = dy[i] / range.gain
                var gq2: Float = 0
                if q2 > 0 {
                    let q3 = y[i] * range.gain + range.offset
                    gq2 = gq3 * gamma * q3 / q2
                    gGamma += Double(gq3 * q3 * log(q2))
                }
                let g = pre2 >= 0 && pre2 <= 1 ? gq2 : 0
                gradPre2[i] = g
                gKappa += Double(g * (q1 - m))
                gMean += Double(g)
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
                gradFactors[n * 3] += Float(gBeta)
                gradFactors[n * 3 + 1] += Float(gKappa)
                gradFactors[n * 3 + 2] += Float(gGamma)
            }
        }
    }
}
