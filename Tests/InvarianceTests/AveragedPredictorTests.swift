import NN
import TestSupport
import XCTest
@testable import Invariance

final class AveragedPredictorTests: XCTestCase {
    /// The copies go through the network one at a time; the mean is the one of a single pass
    /// over all of them (the naive twin: every copy in one batch, averaged by hand), to float
    /// rounding, with the same draws.
    func test_copiesOneAtATime_averageAsOnePassOverAllOfThem() {
        var random = RandomGenerator(seed: 3)
        let network = NetworkSpec(architecture: .smallnet, width: 4, inputChannels: 1, outputs: 5).makeNetwork(random: &random)
        let augmentation = AffineAugmentation(learned: [.rotation, .translateX], initialWidths: [.rotation: 1.5, .translateX: 0.3])
        let (n, copies) = (6, 3)
        let x = Tensor(shape: [n, 1, 12, 12], values: (0..<(n * 144)).map { _ in random.nextFloat() * 2 - 1 })
        for task in [LearningTask.classification(classes: 5), .regression] {
            var drawn = RandomGenerator(seed: 9), again = RandomGenerator(seed: 9)
            let predicted = AveragedPredictor(network: network, augmentation: augmentation, task: task).predict(x, copies: copies, random: &drawn)
            network.eval()
            let whole = TensorContext.withoutGradients { () -> [Float] in
                let out = network(augmentation(Tensor.concatenate(Array(repeating: x, count: copies)), random: &again))
                return (task == .regression ? out : out.logSoftmax()).values
            }
            let width = whole.count / (n * copies)
            XCTAssertEqual(predicted.shape, [n, width])
            for i in 0..<(n * width) {
                let mean = (0..<copies).reduce(Float(0)) { $0 + whole[$1 * n * width + i] } / Float(copies)
                XCTAssertEqual(predicted.values[i], mean, accuracy: 1e-5 * max(1, abs(mean)), "\(task), value \(i)")
            }
            // The copies differ: each one is drawn on its own.
            XCTAssertNotEqual(Array(whole[0..<(n * width)]), Array(whole[(n * width)..<(2 * n * width)]))
        }
    }
}
