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
/// With `relu`, writes max(y, 0) instead (batch norm followed by ReLU in one pass).
/// - Parameters: gamma, beta, runningMean, runningVar, savedMean, savedInvStd: C each.
public func batchNormTrainingForward(_ shape: BatchNormShape, input: UnsafePointer<Float>,
                                     gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, eps: Float, momentum: Float,
                                     runningMean: UnsafeMutablePointer<Float>, runningVar: UnsafeMutablePointer<Float>,
                                     output: UnsafeMutablePointer<Float>, savedMean: UnsafeMutablePointer<Float>,
                                     savedInvStd: UnsafeMutablePointer<Float>, relu: Bool = false, parallelism: Parallelism) {
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
            affinePlane(hw, input + offset, output + offset, scale: scale, shift: shift, relu: relu)
        }
    }
}

/// out = x·scale + shift over one plane, then max(·, 0) with `relu` (NaN stays NaN, as in `reluForward`).
@inline(__always)
private func affinePlane(_ count: Int, _ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, scale: Float, shift: Float, relu: Bool) {
    if relu {
        mapVectors(0..<count, x, out) { let y = $0 * scale + shift; return y.replacing(with: 0, where: y .< 0) }
    } else {
        mapVectors(0..<count, x, out) { $0 * scale + shift }
    }
}

/// Evaluation mode: y = γ·(x − running mean)/√(running var + eps) + β; with `relu`, max(y, 0).
public func batchNormInferenceForward(_ shape: BatchNormShape, input: UnsafePointer<Float>,
                                      gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, eps: Float,
                                      runningMean: UnsafePointer<Float>, runningVar: UnsafePointer<Float>,
                                      output: UnsafeMutablePointer<Float>, relu: Bool = false, parallelism: Parallelism) {
    let (n, c, hw) = (shape.batch, shape.channels, shape.planeSize)
    parallelism.forEach(c, grain: shape.grain) { ch in
        let scale = gamma[ch] / (runningVar[ch] + eps).squareRoot(), shift = beta[ch] - runningMean[ch] * scale
        for i in 0..<n {
            let offset = (i * c + ch) * hw
            affinePlane(hw, input + offset, output + offset, scale: scale, shift: shift, relu: relu)
        }
    }
}

/// Backward of training mode. Adds into gradInput, gradGamma and gradBeta:
/// dβ = Σ dy, dγ = Σ dy·x̂, dx = γ·invStd/M · (M·dy − dβ − x̂·dγ).
/// With `reluOutput` (the output of the forward pass with `relu`), dy is first zeroed where
/// that output is not positive: the backward of ReLU and batch norm in one pass. With
/// `accumulate` false, gradInput is overwritten (it may hold anything before).
public func batchNormTrainingBackward(_ shape: BatchNormShape, input: UnsafePointer<Float>, gradOutput: UnsafePointer<Float>,
                                      gamma: UnsafePointer<Float>, savedMean: UnsafePointer<Float>, savedInvStd: UnsafePointer<Float>,
                                      gradInput: UnsafeMutablePointer<Float>?, gradGamma: UnsafeMutablePointer<Float>,
                                      gradBeta: UnsafeMutablePointer<Float>, reluOutput: UnsafePointer<Float>? = nil,
                                      accumulate: Bool = true, parallelism: Parallelism) {
    let (n, c, hw, m) = (shape.batch, shape.channels, shape.planeSize, shape.valuesPerChannel)
    parallelism.forEach(c, grain: shape.grain) { ch in
        let mean = savedMean[ch], invStd = savedInvStd[ch]
        // Σ dy·x̂ = invStd·Σ dy·(x − mean).
        var sumDy = 0.0, sumDyCentered = 0.0
        for i in 0..<n {
            let offset = (i * c + ch) * hw
            let (planeSum, planeDot) = reluOutput.map { maskedSumAndCenteredDot(gradOutput + offset, mask: $0 + offset, input + offset, hw, center: mean) }
                ?? vectorSumAndCenteredDot(gradOutput + offset, input + offset, hw, center: mean)
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
            if let reluOutput {
                let (x, y, dy, dx) = (input + offset, reluOutput + offset, gradOutput + offset, gradInput + offset)
                var j = 0
                while j + 16 <= hw {
                    let masked = Vector(load: dy + j).replacing(with: 0, where: .!(Vector(load: y + j) .> 0))
                    let value = k * (masked - meanDy - (Vector(load: x + j) - mean) * invStd * meanDyXhat)
                    (accumulate ? Vector(load: dx + j) + value : value).store(to: dx + j)
                    j += 16
                }
                while j < hw {
                    let value = k * ((y[j] > 0 ? dy[j] : 0) - meanDy - (x[j] - mean) * invStd * meanDyXhat)
                    dx[j] = accumulate ? dx[j] + value : value
                    j += 1
                }
            } else if accumulate {
                accumulateVectors(0..<hw, input + offset, gradOutput + offset, into: gradInput + offset) { x, dy in
                    k * (dy - meanDy - (x - mean) * invStd * meanDyXhat)
                }
            } else {
                zipVectors(0..<hw, input + offset, gradOutput + offset, gradInput + offset) { x, dy in
                    k * (dy - meanDy - (x - mean) * invStd * meanDyXhat)
                }
            }
        }
    }
}

/// (Σ x, Σ x·(y − center)) over count values, with x taken as 0 where `mask` is not positive.
@inline(__always)
private func maskedSumAndCenteredDot(_ x: UnsafePointer<Float>, mask: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ count: Int,
                                     center: Float) -> (Float, Float) {
    var sum = Vector(), dot = Vector()
    var i = 0
    while i + 16 <= count {
        let masked = Vector(load: x + i).replacing(with: 0, where: .!(Vector(load: mask + i) .> 0))
        sum += masked
        dot += masked * (Vector(load: y + i) - center)
        i += 16
    }
    var (total, products) = (sum.sum(), dot.sum())
    while i < count {
        let masked = mask[i] > 0 ? x[i] : 0
        total += masked
        products += masked * (y[i] - center)
        i += 1
    }
    return (total, products)
}

/// Backward of evaluation mode (statistics are constants): dx += dy·γ/√(var+eps),
/// dγ += Σ dy·x̂, dβ += Σ dy; with `reluOutput`, dy is zeroed where that output is not positive.
public func batchNormInferenceBackward(_ shape: BatchNormShape, input: UnsafePointer<Float>, gradOutput: UnsafePointer<Float>,
                                       gamma: UnsafePointer<Float>, eps: Float,
                                       runningMean: UnsafePointer<Float>, runningVar: UnsafePointer<Float>,
                                       gradInput: UnsafeMutablePointer<Float>?, gradGamma: UnsafeMutablePointer<Float>,
                                       gradBeta: UnsafeMutablePointer<Float>, reluOutput: UnsafePointer<Float>? = nil,
                                       parallelism: Parallelism) {
    let (n, c, hw) = (shape.batch, shape.channels, shape.planeSize)
    parallelism.forEach(c, grain: shape.grain) { ch in
        let invStd = 1 / (runningVar[ch] + eps).squareRoot(), mean = runningMean[ch], k = gamma[ch] * invStd
        var sumDy = 0.0, sumDyXhat = 0.0
        for i in 0..<n {
            let x = input + (i * c + ch) * hw, upstream = gradOutput + (i * c + ch) * hw
            let relu = reluOutput.map { $0 + (i * c + ch) * hw }
            for j in 0..<hw {
                let dy = relu.map { $0[j] > 0 ? upstream[j] : 0 } ?? upstream[j]
                sumDy += Double(dy)
                sumDyXhat += Double(dy) * Double((x[j] - mean) * invStd)
                if let gradInput { gradInput[(i * c + ch) * hw + j] += dy * k }
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
