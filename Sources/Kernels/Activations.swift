import Foundation

// Element-wise activations and dropout with a given mask. Shapes are flat counts; dropout2d's
// mask has one value per (n, c) plane. Backward functions add into their gradient buffers.

private let elementGrain = 1 << 15

/// output = max(input, 0) (NaN stays NaN). `input` and `output` may be the same buffer.
public func reluForward(count: Int, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, parallelism: Parallelism) {
    parallelism.forEachRange(count, grain: elementGrain) { range in
        mapVectors(range, input, output) { $0.replacing(with: 0, where: $0 .< 0) }
    }
}

/// gradInput += gradOutput where the forward output was positive. `output` is the forward
/// result (equivalently the input: both are positive at the same places).
public func reluBackward(count: Int, output: UnsafePointer<Float>, gradOutput: UnsafePointer<Float>,
                         gradInput: UnsafeMutablePointer<Float>, parallelism: Parallelism) {
    parallelism.forEachRange(count, grain: elementGrain) { range in
        accumulateVectors(range, output, gradOutput, into: gradInput) { y, dy in dy.replacing(with: 0, where: .!(y .> 0)) }
    }
}

/// Softplus, log(1 + eˣ), computed without overflow: max(x, 0) + log1p(e^(−|x|)).
public func softplusForward(count: Int, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) {
    for i in 0..<count {
        let x = input[i]
        output[i] = max(x, 0) + log1pf(expf(-abs(x)))
    }
}

/// gradInput += gradOutput · σ(x), the derivative of softplus.
public func softplusBackward(count: Int, input: UnsafePointer<Float>, gradOutput: UnsafePointer<Float>,
                             gradInput: UnsafeMutablePointer<Float>) {
    for i in 0..<count {
        let x = input[i]
        let sigmoid = x >= 0 ? 1 / (1 + expf(-x)) : expf(x) / (1 + expf(x))
        gradInput[i] += gradOutput[i] * sigmoid
    }
}

/// output = input · mask, element by element. The mask holds 0 for dropped elements and
/// 1/(1 − p) for kept ones (inverted dropout); the caller draws it.
public func dropoutForward(count: Int, input: UnsafePointer<Float>, mask: UnsafePointer<Float>,
                           output: UnsafeMutablePointer<Float>, parallelism: Parallelism) {
    parallelism.forEachRange(count, grain: elementGrain) { range in
        zipVectors(range, input, mask, output, *)
    }
}

/// gradInput += gradOutput · mask.
public func dropoutBackward(count: Int, gradOutput: UnsafePointer<Float>, mask: UnsafePointer<Float>,
                            gradInput: UnsafeMutablePointer<Float>, parallelism: Parallelism) {
    parallelism.forEachRange(count, grain: elementGrain) { range in
        accumulateVectors(range, gradOutput, mask, into: gradInput, *)
    }
}

/// Channel dropout: output[plane] = input[plane] · mask[plane] for each of `planes` (N·C)
/// planes of `planeSize` (H·W) values.
public func dropout2dForward(planes: Int, planeSize: Int, input: UnsafePointer<Float>, mask: UnsafePointer<Float>,
                             output: UnsafeMutablePointer<Float>, parallelism: Parallelism) {
    parallelism.forEach(planes, grain: max(1, elementGrain / max(1, planeSize))) { plane in
        let m = mask[plane], base = plane * planeSize
        mapVectors(base..<(base + planeSize), input, output) { $0 * m }
    }
}

/// gradInput[plane] += gradOutput[plane] · mask[plane] (= without `accumulate`).
public func dropout2dBackward(planes: Int, planeSize: Int, gradOutput: UnsafePointer<Float>, mask: UnsafePointer<Float>,
                              gradInput: UnsafeMutablePointer<Float>, accumulate: Bool = true, parallelism: Parallelism) {
    parallelism.forEach(planes, grain: max(1, elementGrain / max(1, planeSize))) { plane in
        let m = mask[plane], base = plane * planeSize
        if accumulate {
            accumulateVectors(base..<(base + planeSize), gradOutput, gradOutput, into: gradInput) { dy, _ in dy * m }
        } else {
            mapVectors(base..<(base + planeSize), gradOutput, gradInput) { dy in dy * m }
        }
    }
}
