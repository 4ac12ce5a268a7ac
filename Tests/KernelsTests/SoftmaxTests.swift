import Foundation
import TestSupport
import XCTest
@testable import Kernels

final class SoftmaxTests: XCTestCase {
    func rowwise(_ f: (Int, Int, UnsafePointer<Float>, UnsafeMutablePointer<Float>, Parallelism) -> Void,
                 rows: Int, cols: Int, _ x: [Float]) -> [Float] {
        var y = [Float](repeating: 0, count: x.count)
        x.withPointer { px in y.withMutablePointer { f(rows, cols, px, $0, Parallelism(threads: 2)) } }
        return y
    }

    func test_softmaxAndLogSoftmax_matchDefinitionAndFiniteDifferences() {
        var rng = TestRandom(seed: 40)
        for (rows, cols) in [(1, 1), (3, 5), (7, 10), (2, 131)] {
            let x = rng.floats(rows * cols, scale: 4), g = rng.floats(rows * cols)
            let soft = rowwise(softmaxForward, rows: rows, cols: cols, x)
            let logSoft = rowwise(logSoftmaxForward, rows: rows, cols: cols, x)
            var expected = [Float](), expectedLog = [Float]()
            for r in 0..<rows {
                let row = x[(r * cols)..<((r + 1) * cols)].map(Double.init)
                let total = row.map { exp($0) }.reduce(0, +)
                expected += row.map { Float(exp($0) / total) }
                expectedLog += row.map { Float($0 - log(total)) }
            }
            assertClose(soft, expected, "softmax \(rows)x\(cols)")
            assertClose(logSoft, expectedLog, "logSoftmax \(rows)x\(cols)")
            var dSoft = [Float](repeating: 0, count: x.count), dLog = [Float](repeating: 0, count: x.count)
            soft.withPointer { py in g.withPointer { pg in dSoft.withMutablePointer {
                softmaxBackward(rows: rows, cols: cols, output: py, gradOutput: pg, gradInput: $0, parallelism: .serial) } } }
            logSoft.withPointer { py in g.withPointer { pg in dLog.withMutablePointer {
                logSoftmaxBackward(rows: rows, cols: cols, output: py, gradOutput: pg, gradInput: $0, parallelism: .serial) } } }
            let i = sampleIndices(x.count)
            assertClose(i.map { dSoft[$0] }, numericGradient(x, indices: i, step: 1e-2) { weightedSum(self.rowwise(softmaxForward, rows: rows, cols: cols, $0), g) },
                        atol: 2e-3, rtol: 2e-3, "softmax ∂x")
            assertClose(i.map { dLog[$0] }, numericGradient(x, indices: i, step: 1e-2) { weightedSum(self.rowwise(logSoftmaxForward, rows: rows, cols: cols, $0), g) },
                        atol: 2e-3, rtol: 2e-3, "logSoftmax ∂x")
        }
    }

    func test_logSoftmax_whenLogitsAreHuge_staysFinite() {
        let y = rowwise(logSoftmaxForward, rows: 1, cols: 3, [1000, 0, -1000])
        XCTAssertTrue(y.allSatisfy(\.isFinite), "\(y)")
        XCTAssertEqual(y[0], 0, accuracy: 1e-6)
    }

    func crossEntropy(_ logits: [Float], labels: [Int32], cols: Int) -> (Float, [Float], [Float]) {
        let rows = labels.count
        var logp = [Float](repeating: 0, count: logits.count), grad = [Float](repeating: 0, count: logits.count)
        let loss = logits.withPointer { pl in labels.withUnsafeBufferPointer { lb in logp.withMutablePointer {
            crossEntropyForward(rows: rows, cols: cols, logits: pl, labels: lb.baseAddress!, logProbabilities: $0, parallelism: .serial)
        } } }
        logp.withPointer { pp in labels.withUnsafeBufferPointer { lb in grad.withMutablePointer {
            crossEntropyBackward(rows: rows, cols: cols, logProbabilities: pp, labels: lb.baseAddress!, gradLoss: 1, gradLogits: $0, parallelism: .serial)
        } } }
        return (loss, logp, grad)
    }

    func test_crossEntropy_gradientMatchesFiniteDifferences() {
        var rng = TestRandom(seed: 41)
        let labels: [Int32] = [2, 0, 4, 4, 1, 3], cols = 5
        let x = rng.floats(labels.count * cols, scale: 3)
        let (_, _, grad) = crossEntropy(x, labels: labels, cols: cols)
        assertClose(grad, numericGradient(x, indices: Array(x.indices), step: 1e-2) { Double(self.crossEntropy($0, labels: labels, cols: cols).0) },
                    atol: 2e-3, rtol: 2e-3, "crossEntropy ∂logits")
    }

    func test_mse_valueAndGradient() {
        let p: [Float] = [1, 2, 3], t: [Float] = [0, 2, 5]
        var grad = [Float](repeating: 0, count: 3)
        let loss = p.withPointer { pp in t.withPointer { mseForward(count: 3, prediction: pp, target: $0) } }
        p.withPointer { pp in t.withPointer { pt in grad.withMutablePointer { mseBackward(count: 3, prediction: pp, target: pt, gradLoss: 1, gradPrediction: $0) } } }
        XCTAssertEqual(loss, 5.0 / 3.0, accuracy: 1e-6)
        assertClose(grad, [2.0 / 3.0, 0, -4.0 / 3.0], "mse ∂prediction")
    }

    func test_torchReference_crossEntropyMean() throws {
        let ref = try TorchReference.load("cross_entropy_mean")
        let labels = (ref.settings["targets"] as! [NSNumber]).map { Int32($0.intValue) }
        let (loss, logp, grad) = crossEntropy(ref["logits"], labels: labels, cols: ref.shape("logits")[1])
        XCTAssertEqual(loss, ref["loss"][0], accuracy: 1e-5)
        assertClose(logp, ref["log_softmax"], "log_softmax")
        assertClose(grad, ref["grad_logits"], "grad_logits")
    }
}
