import TestSupport
import XCTest
@testable import NN

final class NetworkTests: XCTestCase {
    /// Loads PyTorch's parameters into our network, runs one training-mode forward/backward and
    /// compares logits, loss and every parameter gradient.
    func compareWithTorch(_ file: String, _ spec: NetworkSpec) throws {
        let ref = try TorchReference.load(file)
        var random = RandomGenerator(seed: 1)
        let net = spec.makeNetwork(random: &random)
        var state: [String: (shape: [Int], values: [Float])] = [:]
        for (name, entry) in ref.tensors where name.hasPrefix("param.") { state[String(name.dropFirst(6))] = entry }
        // PyTorch's file has parameters only; the buffers keep their initial values.
        for (name, tensor) in net.buffers { state[name] = (tensor.shape, tensor.values) }
        try net.loadStateDictionary(state, source: file)
        net.train()
        let x = Tensor(shape: ref.tensors["x"]!.shape, values: ref["x"])
        let labels = (ref.settings["targets"] as! [NSNumber]).map { Int32($0.intValue) }
        let logits = net(x)
        let loss = Tensor.crossEntropy(logits, labels: labels)
        loss.backward()
        assertClose(logits.values, ref["logits"], atol: 1e-4, rtol: 1e-3, "\(file) logits")
        XCTAssertEqual(loss.item, ref["loss"][0], accuracy: 1e-4, "\(file) loss")
        for (name, tensor) in net.parameters {
            assertClose(tensor.gradient?.values ?? [], ref["grad.\(name)"], atol: 1e-4, rtol: 2e-3, "\(file) gradient of \(name)")
        }
    }

    func test_smallnet_matchesPyTorch() throws {
        try compareWithTorch("net_smallnet_k4", NetworkSpec(architecture: .smallnet, width: 4, inputChannels: 1, outputs: 10))
    }

    func test_simpleconv_matchesPyTorch() throws {
        try compareWithTorch("net_simpleconv_c4", NetworkSpec(architecture: .simpleconv, width: 4, inputChannels: 3, outputs: 4))
    }

    func test_stateNames_followPyTorchSequentialNumbering() {
        var random = RandomGenerator(seed: 2)
        let net = NetworkSpec(architecture: .smallnet, width: 2, inputChannels: 1, outputs: 10, dropout: 0.3).makeNetwork(random: &random)
        let names = net.stateDictionary.map(\.name)
        XCTAssertEqual(Array(names.prefix(4)), ["0.weight", "0.bias", "1.weight", "1.bias"])
        XCTAssertTrue(names.contains("11.weight") && names.contains("21.bias") && names.contains("1.running_var"), "\(names)")
    }

    func test_loadStateDictionary_whenEntriesDisagree_namesEachProblem() {
        var random = RandomGenerator(seed: 3)
        let net = NetworkSpec(architecture: .mlp, width: 3, inputChannels: 4, outputs: 2, depth: 1).makeNetwork(random: &random)
        var state = Dictionary(uniqueKeysWithValues: net.stateDictionary.map { ($0.name, (shape: $0.tensor.shape, values: $0.tensor.values)) })
        state["1.weight"] = nil
        state["3.bias"] = (shape: [5], values: [Float](repeating: 0, count: 5))
        state["9.weight"] = (shape: [1], values: [0])
        XCTAssertThrowsError(try net.loadStateDictionary(state, source: "model.safetensors")) { error in
            let text = String(describing: error)
            XCTAssertTrue(text.contains("model.safetensors") && text.contains("\"1.weight\" is missing")
                          && text.contains("\"3.bias\" has shape [5]") && text.contains("\"9.weight\" is not part"), text)
        }
    }

    func test_initialisation_isPyTorchsKaimingUniformBound_andSeeded() {
        var a = RandomGenerator(seed: 7), b = RandomGenerator(seed: 7)
        let conv = Conv2d(8, 4, kernelSize: 3, random: &a), same = Conv2d(8, 4, kernelSize: 3, random: &b)
        let bound = 1 / Float(72).squareRoot()
        XCTAssertTrue(conv.weight.values.allSatisfy { abs($0) <= bound })
        XCTAssertGreaterThan(conv.weight.values.map(abs).max()!, 0.9 * bound)
        XCTAssertEqual(conv.weight.values, same.weight.values)
    }

    func test_dropoutLayers_areIdentityInEvaluationMode_andDropInTraining() {
        let x = Tensor(shape: [2, 4, 3, 3], repeating: 1)
        let layer = Dropout2d(0.5)
        var random = RandomGenerator(seed: 9)
        let trained = layer.forward(x, random: &random).values
        XCTAssertTrue(trained.allSatisfy { $0 == 0 || $0 == 2 } && trained.contains(0) && trained.contains(2))
        layer.eval()
        XCTAssertEqual(layer(x).values, x.values)
    }
}
