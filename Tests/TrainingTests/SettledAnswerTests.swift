@testable import Invariance
@testable import Training
import XCTest

/// The stopping rule on histories made to order.
final class SettledAnswerTests: XCTestCase {
    /// Epochs whose rotation width is θ(epoch) and whose test accuracy is acc(epoch).
    func history(_ epochs: Int, theta: (Int) -> Float, accuracy: (Int) -> Double) -> [EpochRecord] {
        (1...epochs).map { e in
            EpochRecord(epoch: e, trainLoss: 0.1, trainMetric: 0.9, testMetric: accuracy(e),
                        theta: ["rotation": theta(e), "translate_x": 0.01, "scale": 0.02], seconds: 1)
        }
    }

    func find(_ history: [EpochRecord], budget: Int = 100) -> SettledAnswer? {
        SettledAnswer.find(history: history, budget: budget, regression: false, heldOutImages: 1000, imageHeight: 28, imageWidth: 28, anneals: true)
    }

    func test_steadyWidthsAndMetric_settleOnceTheWindowHasPassed_noEarlierThanTwoFifthsOfTheBudget() throws {
        // Budget 100: window 20, first possible epoch 40.
        let settled = try XCTUnwrap(find(history(50, theta: { _ in 1.0 }, accuracy: { _ in 0.95 })))
        XCTAssertEqual(settled, SettledAnswer(epoch: 40, window: 20, annealEpochs: 20))
        XCTAssertNil(find(history(39, theta: { _ in 1.0 }, accuracy: { _ in 0.95 })), "not before two fifths of the budget")
        // It settles only once the widths stop moving: growing by 0.5° an epoch until epoch 50.
        let growing = history(80, theta: { e in Float(min(e, 50)) * 0.5 * .pi / 180 * 2 }, accuracy: { _ in 0.95 })
        XCTAssertEqual(find(growing)?.epoch, 67, "1° of movement is allowed within a window: epochs 48–67 move 1°, 47–66 1.5°")
    }

    func test_aWidthOrAMetricThatStillMoves_isNotSettled() {
        // Rotation growing by 0.2° each epoch: 3.8° over a window of 20.
        XCTAssertNil(find(history(100, theta: { e in Float(e) * 0.2 * .pi / 180 * 2 }, accuracy: { _ in 0.95 })))
        // Accuracy climbing 0.5% an epoch: 9.5% over a window, beyond 2·√(2·0.7·0.3/1000) + 0.001 ≈ 4.2%.
        XCTAssertNil(find(history(60, theta: { _ in 1 }, accuracy: { e in 0.5 + 0.005 * Double(e) })))
        // Jitter within the noise is steady.
        XCTAssertNotNil(find(history(50, theta: { _ in 1 }, accuracy: { e in 0.95 + (e % 2 == 0 ? 0.008 : -0.008) })))
    }

    func test_aFullRotationThatKeepsGrowing_isSettled_andNoAnswerSettlesTooLateToAnneal() {
        // θ past 2π reads ±180° however far it grows.
        XCTAssertNotNil(find(history(50, theta: { e in 7 + Float(e) * 0.1 }, accuracy: { _ in 0.95 })))
        // Steady only from epoch 65 on: 85 + 20 epochs of annealing would pass the budget of 100.
        XCTAssertNil(find(history(100, theta: { e in e < 65 ? Float(e) * 0.05 : 3.25 }, accuracy: { _ in 0.95 })))
        let constant = SettledAnswer.find(history: history(50, theta: { _ in 1 }, accuracy: { _ in 0.95 }), budget: 100, regression: false,
                                          heldOutImages: 1000, imageHeight: 28, imageWidth: 28, anneals: false)
        XCTAssertEqual(constant?.annealEpochs, 0, "a constant learning rate stops at once")
    }
}
