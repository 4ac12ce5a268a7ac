import TestSupport
import XCTest
@testable import Kernels

final class BatchNormTests: XCTestCase {
    struct Result { var y: [Float]; var runningMean: [Float]; var runningVar: [Float]; var dx: [Float]; var dgamma: [Float]; var dbeta: [Float] }

    func train(_ s: BatchNormShape, x: [Float], gamma: [Float], beta: [Float], g: [Float], threads: Int = 2) -> Result {
        let c = s.channels, par = Parallelism(threads: threads)
        var r = Result(y: [Float](repeating: 0, count: x.count), runningMean: [Float](repeating: 0, count: c),
                       runningVar: [Float](repeating: 1, count: c), dx: [Float](repeating: 0, count: x.count),
                       dgamma: [Float](repeating: 0, count: c), dbeta: [Float](repeating: 0, count: c))
        var mean = [Float](repeating: 0, count: c), invStd = [Float](repeating: 0, count: c)
        x.withPointer { px in gamma.withPointer { pg in beta.withPointer { pb in
            r.y.withMutablePointer { py in r.runningMean.withMutablePointer { rm in r.runningVar.withMutablePointer { rv in
                mean.withMutablePointer { sm in invStd.withMutablePointer { si in
                    batchNormTrainingForward(s, input: px, gamma: pg, beta: pb, eps: 1e-5, momentum: 0.1, runningMean: rm,
                                             runningVar: rv, output: py, savedMean: sm, savedInvStd: si, parallelism: par)
                } }
            } } }
            g.withPointer { pdy in mean.withPointer { sm in invStd.withPointer { si in
                r.dx.withMutablePointer { dx in r.dgamma.withMutablePointer { dg in r.dbeta.withMutablePointer { db in
                    batchNormTrainingBackward(s, input: px, gradOutput: pdy, gamma: pg, savedMean: sm, savedInvStd: si,
                                              gradInput: dx, gradGamma: dg, gradBeta: db, parallelism: par)
                } } }
            } } }
        } } }
        return r
    }

    func test_training_matchesFiniteDifferences() {
        var rng = TestRandom(seed: 30)
        let s = BatchNormShape(batch: 3, channels: 4, planeSize: 5)
        let x = rng.floats(60, scale: 2), gamma = rng.floats(4), beta = rng.floats(4), g = rng.floats(60)
        let r = train(s, x: x, gamma: gamma, beta: beta, g: g)
        let i = sampleIndices(x.count)
        assertClose(i.map { r.dx[$0] }, numericGradient(x, indices: i, step: 1e-2) { weightedSum(self.train(s, x: $0, gamma: gamma, beta: beta, g: g).y, g) },
                    atol: 3e-3, rtol: 3e-3, "batchNorm ∂x")
        assertClose(r.dgamma, numericGradient(gamma, indices: Array(0..<4)) { weightedSum(self.train(s, x: x, gamma: $0, beta: beta, g: g).y, g) },
                    atol: 3e-3, rtol: 3e-3, "batchNorm ∂γ")
        assertClose(r.dbeta, numericGradient(beta, indices: Array(0..<4)) { weightedSum(self.train(s, x: x, gamma: gamma, beta: $0, g: g).y, g) },
                    atol: 3e-3, rtol: 3e-3, "batchNorm ∂β")
    }

    func test_batchNorm1d_whenPlaneSizeIsOne_normalisesOverTheBatch() {
        let s = BatchNormShape(batch: 4, channels: 1, planeSize: 1)
        let r = train(s, x: [1, 2, 3, 4], gamma: [1], beta: [0], g: [0, 0, 0, 0])
        let sd = Float((1.25 + 1e-5).squareRoot())
        assertClose(r.y, [-1.5 / sd, -0.5 / sd, 0.5 / sd, 1.5 / sd], "normalised")
        assertClose(r.runningMean, [0.25], "running mean")
        assertClose(r.runningVar, [0.9 + 0.1 * 5 / 3], "running variance uses the unbiased estimate")
    }

    func test_inference_usesRunningStatisticsAndItsGradient() {
        var rng = TestRandom(seed: 31)
        let s = BatchNormShape(batch: 2, channels: 3, planeSize: 4)
        let x = rng.floats(24), gamma = rng.floats(3), beta = rng.floats(3), g = rng.floats(24)
        let rm: [Float] = [0.1, -0.2, 0.3], rv: [Float] = [0.5, 1.5, 2]
        func forward(_ x: [Float]) -> [Float] {
            var y = [Float](repeating: 0, count: 24)
            x.withPointer { px in gamma.withPointer { pg in beta.withPointer { pb in rm.withPointer { prm in rv.withPointer { prv in
                y.withMutablePointer { batchNormInferenceForward(s, input: px, gamma: pg, beta: pb, eps: 1e-5, runningMean: prm, runningVar: prv, output: $0, parallelism: .serial) }
            } } } } }
            return y
        }
        let y = forward(x)
        assertClose(y, (0..<24).map { i in let c = (i / 4) % 3; return gamma[c] * (x[i] - rm[c]) / (rv[c] + 1e-5).squareRoot() + beta[c] }, "inference forward")
        var dx = [Float](repeating: 0, count: 24), dg = [Float](repeating: 0, count: 3), db = [Float](repeating: 0, count: 3)
        x.withPointer { px in g.withPointer { pdy in gamma.withPointer { pg in rm.withPointer { prm in rv.withPointer { prv in
            dx.withMutablePointer { pdx in dg.withMutablePointer { pdg in db.withMutablePointer { pdb in
                batchNormInferenceBackward(s, input: px, gradOutput: pdy, gamma: pg, eps: 1e-5, runningMean: prm, runningVar: prv,
                                           gradInput: pdx, gradGamma: pdg, gradBeta: pdb, parallelism: .serial)
            } } }
        } } } } }
        assertClose(dx, numericGradient(x, indices: Array(0..<24)) { weightedSum(forward($0), g) }, atol: 2e-3, rtol: 2e-3, "inference ∂x")
    }

    func test_training_whenMeanDwarfsSpread_keepsTheVariance() {
        // Planes whose means differ, all far from zero: the statistics merge plane by plane.
        var rng = TestRandom(seed: 33)
        let s = BatchNormShape(batch: 5, channels: 2, planeSize: 37)
        let x = (0..<370).map { i in 1000 + Float(i / 37 % 5) * 0.01 + rng.floats(1)[0] * 0.003 }
        let r = train(s, x: x, gamma: [1, 1], beta: [0, 0], g: [Float](repeating: 0, count: 370))
        for ch in 0..<2 {
            let values = (0..<5).flatMap { n in (0..<37).map { Double(x[(n * 2 + ch) * 37 + $0]) } }
            let mean = values.reduce(0, +) / Double(values.count)
            let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count)
            let expected = values.map { Float(($0 - mean) / (variance + 1e-5).squareRoot()) }
            let actual = (0..<5).flatMap { n in (0..<37).map { r.y[(n * 2 + ch) * 37 + $0] } }
            assertClose(actual, expected, atol: 2e-2, "channel \(ch) normalised against a double-precision reference")
        }
    }

    func test_threadCounts_giveBitwiseTheSameResult() {
        var rng = TestRandom(seed: 32)
        let s = BatchNormShape(batch: 6, channels: 9, planeSize: 7)
        let x = rng.floats(378), gamma = rng.floats(9), beta = rng.floats(9), g = rng.floats(378)
        let one = train(s, x: x, gamma: gamma, beta: beta, g: g, threads: 1), four = train(s, x: x, gamma: gamma, beta: beta, g: g, threads: 4)
        XCTAssertEqual(one.y, four.y)
        XCTAssertEqual(one.dx, four.dx)
        XCTAssertEqual(one.dgamma, four.dgamma)
    }

    func test_torchReference_training() throws {
        let ref = try TorchReference.load("batchnorm2d_train")
        let xs = ref.shape("x")
        let s = BatchNormShape(batch: xs[0], channels: xs[1], planeSize: xs[2] * xs[3])
        let r = train(s, x: ref["x"], gamma: ref["weight"], beta: ref["bias"], g: ref["g"])
        assertClose(r.y, ref["out"], atol: 1e-4, "batchnorm out")
        assertClose(r.runningMean, ref["running_mean"], "running_mean")
        assertClose(r.runningVar, ref["running_var"], "running_var")
        assertClose(r.dx, ref["grad_x"], atol: 1e-4, "grad_x")
        assertClose(r.dgamma, ref["grad_weight"], atol: 1e-4, "grad_weight")
        assertClose(r.dbeta, ref["grad_bias"], atol: 1e-4, "grad_bias")
    }
}
