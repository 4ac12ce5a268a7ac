import TestSupport
import XCTest
@testable import NN

final class OptimizerTests: XCTestCase {
    /// Three steps with PyTorch's fixed gradients from PyTorch's starting point.
    func run(_ make: ([ParameterGroup]) -> Optimizer, _ ref: TorchReference) -> [[Float]] {
        let p = Tensor(shape: [6], values: ref["p0"], requiresGradient: true)
        let optimizer = make([ParameterGroup([p], learningRate: 0, weightDecay: 0)])
        return (1...3).map { k in
            p.zeroGradient()
            (p * Tensor(shape: [6], values: ref["grad_\(k)"])).sum().backward()  // gradient = grad_k
            optimizer.step()
            return p.values
        }
    }

    func test_adamAdamWAndNesterov_matchPyTorchOverThreeSteps() throws {
        let ref = try TorchReference.load("optimisers")
        let cases: [(String, ([ParameterGroup]) -> Optimizer)] = [
            ("adam", { groups in Adam(groups.map { ParameterGroup($0.parameters, learningRate: 0.01, weightDecay: 1e-4) }) }),
            ("adamw", { groups in AdamW(groups.map { ParameterGroup($0.parameters, learningRate: 0.01, weightDecay: 1e-2) }) }),
            ("sgd_nesterov", { groups in SGD(groups.map { ParameterGroup($0.parameters, learningRate: 0.1, weightDecay: 1e-4) }, momentum: 0.9, nesterov: true) }),
        ]
        for (name, make) in cases {
            let steps = run(make, ref)
            for k in 1...3 { assertClose(steps[k - 1], ref["\(name)_after_\(k)"], atol: 1e-6, rtol: 1e-5, "\(name) after step \(k)") }
        }
    }

    func test_parameterGroups_haveTheirOwnRateAndDecay_andParametersWithoutGradientStayPut() {
        let a = Tensor(shape: [1], values: [1], requiresGradient: true), b = Tensor(shape: [1], values: [1], requiresGradient: true)
        let idle = Tensor(shape: [1], values: [5], requiresGradient: true)
        let sgd = SGD([ParameterGroup([a], learningRate: 0.1, weightDecay: 1), ParameterGroup([b, idle], learningRate: 0.5)])
        (a + b).sum().backward()
        sgd.step()
        XCTAssertEqual(a.item, 1 - 0.1 * (1 + 1), accuracy: 1e-7)
        XCTAssertEqual(b.item, 1 - 0.5, accuracy: 1e-7)
        XCTAssertEqual(idle.item, 5)
    }

    func test_optimizerState_roundTripsAndRejectsForeignState() throws {
        let p = Tensor(shape: [3], values: [1, 2, 3], requiresGradient: true)
        let adam = Adam([ParameterGroup([p], learningRate: 0.1)])
        (p * p).sum().backward()
        adam.step()
        let saved = Dictionary(uniqueKeysWithValues: adam.state.map { ($0.name, $0.values) })
        XCTAssertEqual(Set(saved.keys), ["group0.param0.exp_avg", "group0.param0.exp_avg_sq", "group0.param0.step"])
        let other = Adam([ParameterGroup([p], learningRate: 0.1)])
        try other.loadState(saved, source: "ck.safetensors")
        XCTAssertEqual(other.state.map(\.values), adam.state.map(\.values))
        XCTAssertThrowsError(try other.loadState(["group0.param0.exp_avg": [1]], source: "ck.safetensors")) {
            XCTAssertTrue(String(describing: $0).contains("has 1 values, its parameter has 3"), String(describing: $0))
        }
    }

    func test_schedules() {
        let cosine = LearningRateSchedule.cosine(totalSteps: 10, floor: 0.1)
        XCTAssertEqual(cosine.factor(at: 0), 1, accuracy: 1e-6)
        XCTAssertEqual(cosine.factor(at: 5), 0.55, accuracy: 1e-6)
        XCTAssertEqual(cosine.factor(at: 10), 0.1, accuracy: 1e-6)
        let step = LearningRateSchedule.step(every: 3, gamma: 0.5)
        XCTAssertEqual([0, 2, 3, 6].map(step.factor(at:)), [1, 1, 0.5, 0.25])
        XCTAssertEqual(LearningRateSchedule.constant.factor(at: 99), 1)
    }

    func test_clipGradientNorm_scalesAllGradientsTogether() {
        let a = Tensor(shape: [1], values: [0], requiresGradient: true), b = Tensor(shape: [1], values: [0], requiresGradient: true)
        (a.scaled(by: 3) + b.scaled(by: 4)).sum().backward()
        let norm = clipGradientNorm([a, b], maxNorm: 1)
        XCTAssertEqual(norm, 5, accuracy: 1e-6)
        XCTAssertEqual(a.gradient!.values[0], 0.6, accuracy: 1e-5)
        XCTAssertEqual(b.gradient!.values[0], 0.8, accuracy: 1e-5)
        XCTAssertEqual(clipGradientNorm([a, b], maxNorm: 10), 1, accuracy: 1e-5, "below the limit nothing changes")
    }
}
