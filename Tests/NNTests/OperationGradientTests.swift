import Foundation
import TestSupport
import XCTest
@testable import NN

/// One test per primitive: the tape's gradient against central finite differences.
final class OperationGradientTests: XCTestCase {
    func test_linearAndMatrixProducts() {
        checkGradients("linear", [randomTensor([3, 5], seed: 1), randomTensor([4, 5], seed: 2), randomTensor([4], seed: 3)]) {
            Tensor.linear($0[0], weight: $0[1], bias: $0[2])
        }
        checkGradients("matmul", [randomTensor([3, 7], seed: 4), randomTensor([7, 2], seed: 5)]) { $0[0].matmul($0[1]) }
        checkGradients("batchedMatmul", [randomTensor([2, 3, 3], seed: 6), randomTensor([2, 3, 4], seed: 7)]) { $0[0].batchedMatmul($0[1]) }
    }

    func test_convolutionAndPooling() {
        checkGradients("conv2d", [randomTensor([2, 3, 6, 5], seed: 8), randomTensor([4, 3, 3, 3], seed: 9), randomTensor([4], seed: 10)]) {
            Tensor.conv2d($0[0], weight: $0[1], bias: $0[2], stride: 2, padding: 1)
        }
        // Distinct values 0.05 apart: no ties for max pooling, and the step keeps each winner.
        var random = RandomGenerator(seed: 11)
        let distinct = Tensor(shape: [2, 2, 5, 4], values: random.permutation(80).map { Float($0) * 0.05 }, requiresGradient: true)
        checkGradients("maxPool2d", [distinct], step: 1e-2) { $0[0].maxPool2d(kernel: 2) }
        checkGradients("avgPool2d", [randomTensor([2, 2, 5, 4], seed: 12)]) { $0[0].avgPool2d(kernel: 3, stride: 1, padding: 1) }
        checkGradients("globalAvgPool", [randomTensor([2, 3, 4, 4], seed: 13)]) { $0[0].globalAvgPool() }
    }

    func test_batchNormBothModes() {
        let mean = Tensor(shape: [3], values: [0.1, -0.2, 0.3]), variance = Tensor(shape: [3], values: [0.5, 2, 1])
        checkGradients("batchNorm training", [randomTensor([4, 3, 2, 2], scale: 2, seed: 14), randomTensor([3], seed: 15), randomTensor([3], seed: 16)]) {
            Tensor.batchNorm($0[0], gamma: $0[1], beta: $0[2], runningMean: Tensor(shape: [3], repeating: 0),
                             runningVariance: Tensor(shape: [3], repeating: 1), training: true)
        }
        checkGradients("batchNorm evaluation", [randomTensor([4, 3], seed: 17), randomTensor([3], seed: 18), randomTensor([3], seed: 19)]) {
            Tensor.batchNorm($0[0], gamma: $0[1], beta: $0[2], runningMean: mean, runningVariance: variance, training: false)
        }
    }

    func test_batchNormFusedWithReLU_bothModes() {
        // Planes of 25: the 16-lane loop and its tail. A small step, and inputs none of whose
        // outputs lie within it of the kink at 0 (where finite differences see a corner).
        let mean = Tensor(shape: [2], values: [0.1, -0.2]), variance = Tensor(shape: [2], values: [0.5, 2])
        checkGradients("batchNorm+ReLU training", [randomTensor([3, 2, 5, 5], scale: 2, seed: 50), randomTensor([2], seed: 51),
                                                   randomTensor([2], seed: 52)], step: 1e-3) {
            Tensor.batchNorm($0[0], gamma: $0[1], beta: $0[2], runningMean: Tensor(shape: [2], repeating: 0),
                             runningVariance: Tensor(shape: [2], repeating: 1), training: true, relu: true)
        }

        // The input also used elsewhere: whichever backward comes first writes the fresh
        // gradient buffer, the other adds to it.
        checkGradients("batchNorm+ReLU beside another use of its input", [randomTensor([3, 2, 5, 5], scale: 2, seed: 50),
                                                                          randomTensor([2], seed: 51), randomTensor([2], seed: 52)], step: 1e-3) {
            Tensor.batchNorm($0[0], gamma: $0[1], beta: $0[2], runningMean: Tensor(shape: [2], repeating: 0),
                             runningVariance: Tensor(shape: [2], repeating: 1), training: true, relu: true) + $0[0].scaled(by: 2)
        }
        checkGradients("another use, then batchNorm+ReLU", [randomTensor([3, 2, 5, 5], scale: 2, seed: 50),
                                                           randomTensor([2], seed: 51), randomTensor([2], seed: 52)], step: 1e-3) {
            $0[0].scaled(by: 2) + Tensor.batchNorm($0[0], gamma: $0[1], beta: $0[2], runningMean: Tensor(shape: [2], repeating: 0),
                                                   runningVariance: Tensor(shape: [2], repeating: 1), training: true, relu: true)
        }
        checkGradients("batchNorm+ReLU evaluation", [randomTensor([3, 2, 5, 5], seed: 43), randomTensor([2], seed: 44), randomTensor([2], seed: 45)],
                       step: 1e-3) {
            Tensor.batchNorm($0[0], gamma: $0[1], beta: $0[2], runningMean: mean, runningVariance: variance, training: false, relu: true)
        }
    }

    func test_sequential_fusesBatchNormAndReLU_withTheSameResultAsSeparateLayers() {
        for training in [true, false] {
            var random = RandomGenerator(seed: 46)
            let net = Sequential([Conv2d(2, 3, kernelSize: 3, padding: 1, random: &random), BatchNorm2d(3), ReLU()])
            net.isTraining = training
            let x = randomTensor([4, 2, 6, 5], scale: 2, seed: 47)
            var unusedRandom = RandomGenerator(seed: 0)
            let weights = randomTensor([4, 3, 6, 5], seed: 48, requiresGradient: false)
            let fused = net(x)
            (fused * weights).sum().backward()
            let fusedGradients = net.parameters.map { $0.tensor.gradient!.values } + [x.gradient!.values]
            for p in net.parameters { p.tensor.zeroGradient() }
            x.zeroGradient()
            let separate = net.layers.reduce(x) { $1.forward($0, random: &unusedRandom) }
            (separate * weights).sum().backward()
            let separateGradients = net.parameters.map { $0.tensor.gradient!.values } + [x.gradient!.values]
            assertClose(fused.values, separate.values, atol: 1e-6, "output, training \(training)")
            for (a, b) in zip(fusedGradients, separateGradients) { assertClose(a, b, atol: 1e-5, rtol: 1e-5, "gradients, training \(training)") }
            XCTAssertTrue(fused.values.contains(0) && fused.values.contains { $0 > 0 }, "the test must cross the ReLU's kink")
        }
    }

    func test_activationsAndDropout() {
        // Values away from 0, where ReLU's derivative jumps.
        let away = Tensor(shape: [10], values: [-1, -0.5, -0.3, 0.2, 0.4, 0.6, 0.9, -0.8, 1.5, -2], requiresGradient: true)
        checkGradients("relu", [away]) { $0[0].relu() }
        checkGradients("softplus", [randomTensor([6], scale: 3, seed: 20)]) { $0[0].softplus() }
        checkGradients("exp", [randomTensor([6], scale: 2, seed: 19)]) { $0[0].exp() }
        checkGradients("dropout", [randomTensor([12], seed: 21)]) { var random = RandomGenerator(seed: 5); return $0[0].dropout(0.4, random: &random) }
        checkGradients("dropout2d", [randomTensor([2, 3, 2, 2], seed: 22)]) { var random = RandomGenerator(seed: 6); return $0[0].dropout2d(0.5, random: &random) }
    }

    func test_arithmeticWithBroadcasting() {
        checkGradients("add per channel", [randomTensor([2, 3, 2, 2], seed: 23), randomTensor([1, 3, 1, 1], seed: 24)]) { $0[0] + $0[1] }
        checkGradients("multiply per column", [randomTensor([4, 3], seed: 25), randomTensor([3], seed: 26)]) { $0[0] * $0[1] }
        checkGradients("multiply same shape", [randomTensor([5], seed: 27), randomTensor([5], seed: 28)]) { $0[0] * $0[1] }
        checkGradients("subtract", [randomTensor([2, 2], seed: 29), randomTensor([2, 1], seed: 30)]) { $0[0] - $0[1] }
        checkGradients("scaled", [randomTensor([4], seed: 31)]) { $0[0].scaled(by: -2.5) }
        checkGradients("sum", [randomTensor([3, 2], seed: 32)]) { $0[0].sum() }
        checkGradients("mean", [randomTensor([3, 2], seed: 33)]) { $0[0].mean() }
        let positive = Tensor(shape: [4], values: [0.5, 1, 2, 3], requiresGradient: true)
        checkGradients("squareRoot", [positive]) { $0[0].squareRoot() }
        checkGradients("norm", [randomTensor([6], seed: 34)]) { $0[0].norm() }
    }

    func test_shapesAndJoining() {
        checkGradients("reshaped", [randomTensor([2, 6], seed: 35)]) { $0[0].reshaped([3, 4]).slice(1..<3) }
        checkGradients("concatenate", [randomTensor([2, 3], seed: 36), randomTensor([1, 3], seed: 37)]) { Tensor.concatenate([$0[0], $0[1], $0[0]]) }
        checkGradients("slice", [randomTensor([4, 2], seed: 38)]) { $0[0].slice(1..<3) }
    }

    func test_lossesAndSoftmax() {
        checkGradients("logSoftmax", [randomTensor([3, 5], scale: 3, seed: 39)]) { $0[0].logSoftmax() }
        checkGradients("crossEntropy", [randomTensor([4, 3], scale: 2, seed: 40)]) { Tensor.crossEntropy($0[0], labels: [2, 0, 1, 1]) }
        checkGradients("mse", [randomTensor([5], seed: 41), randomTensor([5], seed: 42)]) { Tensor.mse($0[0], $0[1]) }
    }

    func test_affineWarpInBothArguments() {
        var random = RandomGenerator(seed: 43)
        let theta = Tensor(shape: [2, 2, 3], values: [1, 0, 0, 0, 1, 0, 1, 0, 0, 0, 1, 0].map { $0 + random.nextFloat(in: -0.3..<0.3) },
                           requiresGradient: true)
        checkGradients("affineWarp", [randomTensor([2, 2, 5, 6], seed: 44), theta], step: 1e-3, tolerance: 1e-2) { Tensor.affineWarp($0[0], theta: $0[1]) }
    }

    func test_photometricAdjustInBothArguments() {
        var random = RandomGenerator(seed: 45)
        // Factors near 1 and standardised values whose raw values stay inside [0, 1] after them:
        // no clamp is near, so the function is smooth where it is differenced.
        let factors = Tensor(shape: [2, 5], values: (0..<10).map { $0 % 5 == 4 ? random.nextFloat(in: -0.5..<0.5) : exp(random.nextFloat(in: -0.15..<0.15)) },
                             requiresGradient: true)
        // Raw values 0.25·x + 0.5 ∈ [0.25, 0.75].
        checkGradients("photometricAdjust", [randomTensor([2, 3, 4, 5], seed: 46), factors], step: 1e-3, tolerance: 1e-2) {
            Tensor.photometricAdjust($0[0], factors: $0[1], gain: 0.25, offset: 0.5)
        }
    }

    func test_lastLayerLaplaceLogDeterminant_matchesAnExplicitMatrix_andItsGradients() {
        let features = randomTensor([6, 3], seed: 60), logits = randomTensor([6, 3], scale: 2, seed: 61)
        for (name, withLogits) in [("softmax", true), ("gaussian", false)] {
            let logDet = Tensor.lastLayerLaplaceLogDeterminant(features: features, logits: withLogits ? logits : nil, outputPrecision: 2.5,
                                                               dataScale: 3, priorPrecision: 0.7)!
            let expected = naiveLastLayerLaplaceLogDeterminant(features: features.values, logits: withLogits ? logits.values : nil, examples: 6,
                                                               outputPrecision: 2.5, dataScale: 3, priorPrecision: 0.7)
            XCTAssertEqual(Double(logDet.item), expected, accuracy: 1e-4 * abs(expected), "\(name): log det against the explicit matrix")
            checkGradients("lastLayerLaplace \(name)", withLogits ? [features, logits] : [features], step: 1e-2, tolerance: 5e-3) {
                Tensor.lastLayerLaplaceLogDeterminant(features: $0[0], logits: withLogits ? $0[1] : nil, outputPrecision: 2.5,
                                                      dataScale: 3, priorPrecision: 0.7)!
            }
        }
        XCTAssertNil(Tensor.lastLayerLaplaceLogDeterminant(features: features, logits: logits, dataScale: 3, priorPrecision: 0),
                     "the softmax curvature is singular along the sum of the classes: with no prior, H is not positive definite")
    }

    func test_gradientsAccumulateAcrossBackwardCalls_andNothingIsRecordedWithoutGradients() {
        let w = Tensor(shape: [2], values: [1, 2], requiresGradient: true)
        (w * w).sum().backward()
        (w * w).sum().backward()
        XCTAssertEqual(w.gradient?.values, [4, 8])
        w.zeroGradient()
        XCTAssertEqual(w.gradient?.values, [0, 0])
        let result = TensorContext.withoutGradients { (w * w).sum() }
        XCTAssertFalse(result.requiresGradient)
    }
}

/// log det of H = s·Σₙ [φₙ,1][φₙ,1]ᵀ ⊗ Λₙ + δI written out entry by entry, by Gaussian
/// elimination with partial pivoting.
private func naiveLastLayerLaplaceLogDeterminant(features: [Float], logits: [Float]?, examples n: Int, outputPrecision: Double,
                                                 dataScale: Double, priorPrecision: Double) -> Double {
    let d = features.count / n + 1, c = logits.map { $0.count / n } ?? 1, p = d * c
    var h = [[Double]](repeating: [Double](repeating: 0, count: p), count: p)
    for example in 0..<n {
        let phi = (0..<(d - 1)).map { Double(features[example * (d - 1) + $0]) } + [1]
        var lambda = [[outputPrecision]]
        if let logits {
            let z = (0..<c).map { Double(logits[example * c + $0]) }
            let e = z.map { exp($0 - z.max()!) }, total = e.reduce(0, +)
            let prob = e.map { $0 / total }
            lambda = (0..<c).map { i in (0..<c).map { k in (i == k ? prob[i] : 0) - prob[i] * prob[k] } }
        }
        for a in 0..<d { for b in 0..<d { for i in 0..<c { for k in 0..<c { h[a * c + i][b * c + k] += dataScale * phi[a] * phi[b] * lambda[i][k] } } } }
    }
    for i in 0..<p { h[i][i] += priorPrecision }
    var logDet = 0.0
    for column in 0..<p {
        let pivot = (column..<p).max { abs(h[$0][column]) < abs(h[$1][column]) }!
        h.swapAt(column, pivot)
        logDet += log(abs(h[column][column]))
        for row in (column + 1)..<p {
            let factor = h[row][column] / h[column][column]
            for k in column..<p { h[row][k] -= factor * h[column][k] }
        }
    }
    return logDet
}
