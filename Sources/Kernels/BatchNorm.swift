// Batch normalisation over NCHW (BatchNorm2d) or N×C (BatchNorm1d: planeSize 1).
// Shape letters: N batch, C channels, HW = plane size; M = N·HW values per channel.
// Statistics are summed per plane in float vectors and across planes in Double, per channel, in
// a fixed order; work is split over channels, so results are bitwise equal for any thread count.

/// Geometry of a batch-norm call.
public struct BatchNormShape: Sendable, Equatable {
    public var batch: Int, channels: Int, planeSize: Int
    public init(batch: Int, channels: Int, planeSize: Int) {
        (self.batch, self.channels, self.planeSize) = (batch, channels, planeSize)
    }
    /// M: values per channel.
    public var valuesPerChannel: Int { batch * planeSize }
    var grain: Int { max(1, 16384 / max(1, valuesPerChannel)) }
}

/// Training mode: normalises with the batch mean and biased variance, then
/// y = γ·x̂ + β; updates the running averages with `momentum` (running variance uses the
/// unbiased batch variance, as PyTorch does) and saves mean and 1/√(var+eps) for backward.
/// - Parameters: gamma, beta, runningMean, runningVar, savedMean, savedInvStd: C each.
public func batchNormTrainingForward(_ shape: BatchNormShape, input: UnsafePointer<Float>,
                                     gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, eps: Float, momentum: Float,
                                     runningMean: UnsafeMutablePointer<Float>, runningVar: UnsafeMutablePointer<Float>,
                                     output: UnsafeMutablePointer<Float>, savedMean: UnsafeMutablePointer<Float>,
                                     savedInvStd: UnsafeMutablePointer<Float>, parallelism: Parallelism) {
    let (n, c, hw, m) = (shape.batch, shape.channels, shape.planeSize, shape.valuesPerChannel)
    precondition(m > 1, "batchNorm: training needs more than one value per channel, got \(m)")
    parallelism.forEach(c, grain: shape.grain) { ch in
        // Per plane in float vectors, across planes in double: two passes (mean, then squared
        // deviations) so the variance does not cancel.
        var sum = 0.0
        for i in 0..<n { sum += Double(vectorSum(input + (i * c + ch) * hw, hw)) }
        let mean = sum / Double(m)
        var squares = 0.0
        let meanFloat = Float(mean)
        for i in 0..<n { squares += Double(squaredDeviationSum(input + (i * c + ch) * hw, hw, around: meanFloat)) }
        let variance = squares / Double(m)
        let invStd = 1 / (variance + Double(eps)).squareRoot()
        savedMean[ch] = Float(mean)
        savedInvStd[ch] = Float(invStd)
        runningMean[ch] = (1 - momentum) * runningMean[ch] + momentum * Float(mean)
        runningVar[ch] = (1 - momentum) * runningVar[ch] + momentum * Float(squares / Double(m - 1))
        let scale = Float(invStd) * gamma[ch], shift = beta[ch] - Float(mean) * scale
        for i in 0..<n {
            let offset = (i * c + ch) * hw
            mapVectors(0..<hw, input + offset, output + offset) { $0 * scale + shift }
        }
    }
}

/// Evaluation mode: y = γ·(x − running mean)/√(running var + eps) + β.
public func batchNormInferenceForward(_ shape: BatchNormShape, input: UnsafePointer<Float>,
                                      gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, eps: Float,
                                      runningMean: UnsafePointer<Float>, runningVar: UnsafePointer<Float>,
                                      output: UnsafeMutablePointer<Float>, parallelism: Parallelism) {
    let (n, c, hw) = (shape.batch, shape.channels, shape.planeSize)
    parallelism.forEach(c, grain: shape.grain) { ch in
        let scale = gamma[ch] / (runningVar[ch] + eps).squareRoot(), shift = beta[ch] - runningMean[ch] * scale
        for i in 0..<n {
            let offset = (i * c + ch) * hw
            mapVectors(0..<hw, input + offset, output + offset) { $0 * scale + shift }
        }
    }
}

/// Backward of training mode. Adds into gradInput, gradGamma and gradBeta:
/// dβ = Σ dy, dγ = Σ dy·x̂, dx = γ·invStd/M · (M·dy − dβ − x̂·dγ).
public func batchNormTrainingBackward(_ shape: BatchNormShape, input: UnsafePointer<Float>, gradOutput: UnsafePointer<Float>,
                                      gamma: UnsafePointer<Float>, savedMean: UnsafePointer<Float>, savedInvStd: UnsafePointer<Float>,
                                      gradInput: UnsafeMutablePointer<Float>?, gradGamma: UnsafeMutablePointer<Float>,
                                      gradBeta: UnsafeMutablePointer<Float>, parallelism: Parallelism) {
    let (n, c, hw, m) = (shape.batch, shape.channels, shape.planeSize, shape.valuesPerChannel)
    parallelism.forEach(c, grain: shape.grain) { ch in
        let mean = savedMean[ch], invStd = savedInvStd[ch]
        // Σ dy·x̂ = invStd·Σ dy·(x − mean).
        var sumDy = 0.0, sumDyCentered = 0.0
        for i in 0..<n {
            let (planeSum, planeDot) = vectorSumAndCenteredDot(gradOutput + (i * c + ch) * hw, input + (i * c + ch) * hw, hw, center: mean)
            sumDy += Double(planeSum)
            sumDyCentered += Double(planeDot)
        }
        let sumDyXhat = Double(invStd) * sumDyCentered
        gradBeta[ch] += Float(sumDy)
        gradGamma[ch] += Float(sumDyXhat)
        guard let gradInput else { return }
        let k = gamma[ch] * invStd
        let meanDy = Float(sumDy / Double(m)), meanDyXhat = Float(sumDyXhat / Double(m))
        for i in 0..<n {
            let offset = (i * c + ch) * hw
            accumulateVectors(0..<hw, input + offset, gradOutput + offset, into: gradInput + offset) { x, dy in
                k * (dy - meanDy - (x - mean) * invStd * meanDyXhat)
            }
        }
    }
}

/// Backward of evaluation mode (statistics are constants): dx += dy·γ/√(var+eps),
/// dγ += Σ dy·x̂, dβ += Σ dy.
public func batchNormInferenceBackward(_ shape: BatchNormShape, input: UnsafePointer<Float>, gradOutput: UnsafePointer<Float>,
                                       gamma: UnsafePointer<Float>, eps: Float,
                                       runningMean: UnsafePointer<Float>, runningVar: UnsafePointer<Float>,
                                       gradInput: UnsafeMutablePointer<Float>?, gradGamma: UnsafeMutablePointer<Float>,
                                       gradBeta: UnsafeMutablePointer<Float>, parallelism: Parallelism) {
    let (n, c, hw) = (shape.batch, shape.channels, shape.planeSize)
    parallelism.forEach(c, grain: shape.grain) { ch in
        let invStd = 1 / (runningVar[ch] + eps).squareRoot(), mean = runningMean[ch], k = gamma[ch] * invStd
        var sumDy = 0.0, sumDyXhat = 0.0
        for i in 0..<n {
            let x = input + (i * c + ch) * hw, dy = gradOutput + (i * c + ch) * hw
            for j in 0..<hw {
                sumDy += Double(dy[j])
                sumDyXhat += Double(dy[j]) * Double((x[j] - mean) * invStd)
                if let gradInput { gradInput[(i * c + ch) * hw + j] += dy[j] * k }
            }
        }
        gradBeta[ch] += Float(sumDy)
        gradGamma[ch] += Float(sumDyXhat)
    }
}

/// Σ (x − mean)² over count values, in float vectors.
@inline(__always)
private func squaredDeviationSum(_ x: UnsafePointer<Float>, _ count: Int, around mean: Float) -> Float {
    var a = SIMD4<Float>(), b = SIMD4<Float>()
    let raw = UnsafeRawPointer(x), m = SIMD4<Float>(repeating: mean)
    var i = 0
    while i + 8 <= count {
        let d0 = raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD4<Float>.self) - m
        let d1 = raw.loadUnaligned(fromByteOffset: i * 4 + 16, as: SIMD4<Float>.self) - m
        a += d0 * d0
        b += d1 * d1
        i += 8
    }
    var total = (a + b).sum()
    while i < count { let d = x[i] - mean; total += d * d; i += 1 }
    return total
}
