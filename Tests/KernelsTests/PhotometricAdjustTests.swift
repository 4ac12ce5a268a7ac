import TestSupport
import XCTest
@testable import Kernels

/// The photometric adjustment's plain twin, in Double: brightness, contrast, gamma, one clamp each.
func naivePhotometric(_ s: PhotometricShape, x: [Float], factors: [Float], range: PhotometricRange) -> [Float] {
    let size = s.channels * s.height * s.width, plane = s.height * s.width
    let weights: [Double] = s.channels == 3 ? [0.2989, 0.587, 0.114] : Array(repeating: 1 / Double(s.channels), count: s.channels)
    var y = [Float](repeating: 0, count: x.count)
    for n in 0..<s.batch {
        let (beta, kappa, gamma) = (Double(factors[n * 3]), Double(factors[n * 3 + 1]), Double(factors[n * 3 + 2]))
        let q1 = (0..<size).map { i in min(1, max(0, beta * (Double(x[n * size + i]) * Double(range.gain) + Double(range.offset)))) }
        var m = 0.0
        for i in 0..<size { m += weights[i / plane] * q1[i] }
        m /= Double(plane)
        for i in 0..<size {
            let q2 = min(1, max(0, m + kappa * (q1[i] - m)))
            y[n * size + i] = Float((pow(q2, gamma) - Double(range.offset)) / Double(range.gain))
        }
    }
    return y
}

final class PhotometricAdjustTests: XCTestCase {
    func adjust(_ s: PhotometricShape, _ x: [Float], _ factors: [Float], _ range: PhotometricRange, threads: Int = 2) -> [Float] {
        var y = [Float](repeating: .nan, count: x.count)
        x.withPointer { px in factors.withPointer { pf in y.withMutablePointer {
            photometricForward(s, input: px, factors: pf, range: range, output: $0, parallelism: Parallelism(threads: threads))
        } } }
        return y
    }

    func gradients(_ s: PhotometricShape, _ x: [Float], _ factors: [Float], _ range: PhotometricRange, _ g: [Float],
                   threads: Int = 2) -> (input: [Float], factors: [Float]) {
        var dx = [Float](repeating: 0, count: x.count), df = [Float](repeating: 0, count: factors.count)
        let y = adjust(s, x, factors, range, threads: threads)
        x.withPointer { px in factors.withPointer { pf in y.withPointer { py in g.withPointer { pg in dx.withMutablePointer { pdx in df.withMutablePointer {
            photometricBackward(s, input: px, factors: pf, range: range, output: py, gradOutput: pg, gradInput: pdx, gradFactors: $0,
                                parallelism: Parallelism(threads: threads))
        } } } } } }
        return (dx, df)
    }

    /// torchvision 0.29's adjust_gamma(adjust_contrast(adjust_brightness(x, β), κ), γ) on a 3×4×5
    /// and a 1×4×5 image in [0, 1] (its _functional_tensor module, run on PyTorch 2.13 CPU), and
    /// PyTorch's gradient of Σ y·w into x. Pixels hit both clamps (x = 0 and 1; β·x > 1).
    func test_torchvisionReference_valuesAndInputGradient() {
        let cases: [(channels: Int, factors: [Float], y: [Float], dx: [Float])] = [
            (3, [1.3, 0.7, 1.6],
             [0.06412751, 0.6428953, 0.2184559, 0.8144939, 0.4337216, 0.0893385, 0.6998839, 0.2570517, 0.8144939, 0.4831075, 0.1175588, 0.7586683, 0.2979552, 0.8144939, 0.5344638, 0.1485874, 0.8144939, 0.3410828, 0.8144939, 0.5877415, 0.1822639, 0.8144939, 0.3863602, 0.06412751, 0.6428953, 0.2184559, 0.8144939, 0.4337216, 0.0893385, 0.6998839, 0.2570517, 0.8144939, 0.4831075, 0.1175588, 0.7586683, 0.2979552, 0.8144939, 0.5344638, 0.1485874, 0.8144939, 0.3410828, 0.8144939, 0.5877415, 0.1822639, 0.8144939, 0.3863602, 0.06412751, 0.6428953, 0.2184559, 0.8144939, 0.4337216, 0.0893385, 0.6998839, 0.2570517, 0.8144939, 0.4831075, 0.1175588, 0.7586683, 0.2979552, 0.8144939],
             [-0.5131252, 0.4178724, -0.5420607, 0, -0.3481738, 0.5952086, 0.006634887, -0.8681857, 0, -0.7322665, 0.4415613, -0.4309472, 0.9312648, 0, -1.144512, 0.2440637, 0, 0.6551089, 0, 1.199541, 0.01303004, 0, 0.3527822, -0.3334767, 0.835505, -0.2613178, 0, 0.01303004, -0.5755436, 0.4375762, -0.5701838, 0, -0.3564207, 0.6654196, 0.01303004, -0.9115999, 0, -0.7544011, 0.4878877, 0, 0.9752415, 0, -1.190375, 0.2588626, 0, 0.682035, -0.1707229, 1.236243, 0.002530536, 0, 0.3573393, -0.3898519, 0.8516228, -0.2890764, 0, 0.002530536, -0.649859, 0.4401127, -0.6138895, 0]),
            (1, [0.8, 1.4, 0.6],
             [0, 0.6995518, 0.240627, 0.8785009, 0.5304874, 0, 0.7376266, 0.3126206, 0.9113927, 0.57582, 0, 0.7744336, 0.374886, 0.9435113, 0.6188871, 0, 0.8101093, 0.430892, 0.9749169, 0.6600417],
             [0.02235837, 0.306609, -1.135659, 0.5107669, -0.319462, 0.02235837, 0.02235837, -1.436538, 0.2606512, -0.6249137, 0.02235837, -0.2432603, 1.314876, 0.02235837, -0.9029681, 0.02235837, -0.4931657, 0.8076526, -0.2054675, 0.90881]),
        ]
        for c in cases {
            let s = PhotometricShape(batch: 1, channels: c.channels, height: 4, width: 5)
            let count = c.channels * 20
            let x = (0..<count).map { Float(($0 * 37) % 23) / 22 }
            let w = (0..<count).map { Float(($0 * 11) % 7 - 3) / 3 }
            let range = PhotometricRange(gain: 1, offset: 0)
            assertClose(adjust(s, x, c.factors, range), c.y, atol: 2e-6, "torchvision's adjustment, \(c.channels) channels")
            assertClose(gradients(s, x, c.factors, range, w).input, c.dx, atol: 2e-5, "PyTorch's input gradient, \(c.channels) channels")
        }
    }

    /// Standardised inputs, several images and channel counts (the gray mean of 3 channels, the
    /// plain mean of 2), against the Double twin; any thread count gives the same bits.
    func test_standardisedBatches_matchNaive_forAnyThreadCount() {
        var rng = TestRandom(seed: 90)
        for s in [PhotometricShape(batch: 5, channels: 3, height: 6, width: 7), PhotometricShape(batch: 3, channels: 2, height: 5, width: 5),
                  PhotometricShape(batch: 4, channels: 1, height: 1, width: 9)] {
            let range = PhotometricRange(standardisedWithMean: 0.4, std: 0.3, low: 0, high: 1)
            let x = rng.floats(s.batch * s.channels * s.height * s.width, scale: 1.8)
            let factors = (0..<(s.batch * 3)).map { _ in Float(exp(Double(rng.symmetric()) * 0.5)) }
            let y = adjust(s, x, factors, range)
            assertClose(y, naivePhotometric(s, x: x, factors: factors, range: range), atol: 1e-5, "photometric \(s)")
            XCTAssertEqual(adjust(s, x, factors, range, threads: 1), y)
            XCTAssertEqual(adjust(s, x, factors, range, threads: 3), y)
        }
    }

    /// Factors of 1 give the image back (values inside the range).
    func test_unitFactors_returnTheImage() {
        let s = PhotometricShape(batch: 2, channels: 3, height: 3, width: 4)
        var rng = TestRandom(seed: 91)
        let x = rng.floats(72)
        let range = PhotometricRange(standardisedWithMean: 0.5, std: 0.2, low: 0, high: 1)
        assertClose(adjust(s, x, [1, 1, 1, 1, 1, 1], range), x, atol: 1e-5, "unit factors")
    }

    /// Gradients into the image and into each factor against central differences, where no
    /// clamp is near (so the function is smooth there).
    func test_gradients_matchFiniteDifferences() {
        var rng = TestRandom(seed: 92)
        for s in [PhotometricShape(batch: 3, channels: 3, height: 4, width: 5), PhotometricShape(batch: 2, channels: 1, height: 6, width: 3)] {
            // Raw values in [0.25, 0.75], standardised; factors within ×0.86–1.16 keep every
            // clamp's argument inside [0, 1].
            let range = PhotometricRange(standardisedWithMean: 0.5, std: 0.25, low: 0, high: 1)
            let x = rng.floats(s.batch * s.channels * s.height * s.width)
            let factors = (0..<(s.batch * 3)).map { _ in Float(exp(Double(rng.symmetric()) * 0.15)) }
            let g = rng.floats(x.count)
            let (dx, df) = gradients(s, x, factors, range, g)
            let numericX = numericGradient(x, indices: sampleIndices(x.count), step: 1e-2) { weightedSum(naivePhotometric(s, x: $0, factors: factors, range: range), g) }
            assertClose(sampleIndices(x.count).map { dx[$0] }, numericX, atol: 2e-3, rtol: 1e-2, "∂input \(s)")
            let numericF = numericGradient(factors, indices: Array(0..<factors.count), step: 1e-3) { weightedSum(naivePhotometric(s, x: x, factors: $0, range: range), g) }
            assertClose(df, numericF, atol: 2e-3, rtol: 1e-2, "∂factors \(s)")
        }
    }
}
