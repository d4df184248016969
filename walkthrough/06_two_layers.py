"""Step 6: two layers. The outputs of layer 1 are the inputs of layer 2.

First the tutorial's single sample ("2 Layers and Batch of Data Using NumPy"),
then the batch of step 5 through the same two layers.

With nothing between them the two layers are still one linear map:
W2 (W1 x + b1) + b2 = (W2 W1) x + (W2 b1 + b2). Depth buys nothing until an activation
such as ReLU (step 7) bends the output of each layer.
"""
import numpy as np

# What the tutorial printed for the single sample.
TUTORIAL = {"layer1": [4.67, 2.93, 1.19], "layer2": [2.234, 3.185, 2.89]}


def run() -> dict:
    weights = np.array([[0.5, -0.2, 0.9, -0.3],
                        [0.7, 0.4, -0.6, 0.8],
                        [-0.1, 0.6, 0.2, -0.7]])
    biases = np.array([1.5, 2.2, 0.9])
    weights2 = np.array([[0.3, -0.4, 0.6],   # 3 neurons, each with 3 inputs
                         [0.2, 0.5, -0.3],
                         [0.8, -0.1, 0.4]])
    biases2 = np.array([0.7, 1.2, -0.5])

    inputs = np.array([2.1, 1.7, 3.3, 0.8])
    layer1 = np.dot(weights, inputs) + biases
    layer2 = np.dot(weights2, layer1) + biases2
    print("Layer 1 outputs:", layer1)
    print("Layer 2 outputs:", layer2)
    print(f"The tutorial printed {TUTORIAL['layer1']} and {TUTORIAL['layer2']}; the correct "
          f"results are {np.round(layer1, 2).tolist()} and {np.round(layer2, 3).tolist()}.")
    # Layer 2 of the tutorial does not even follow from its own layer 1 numbers:
    from_printed = np.dot(weights2, np.array(TUTORIAL["layer1"])) + biases2
    print(f"(Fed the tutorial's layer 1 numbers, layer 2 would give "
          f"{np.round(from_printed, 3).tolist()}.)")

    batch = np.array([[2.1, 1.7, 3.3, 0.8],
                      [1.0, 2.0, 3.0, 2.5],
                      [2.0, 5.0, -1.0, 2.0],
                      [-1.5, 2.7, 3.3, -0.8]])
    batch_layer1 = np.dot(batch, weights.T) + biases
    batch_layer2 = np.dot(batch_layer1, weights2.T) + biases2
    print("\nThe batch of step 5 through both layers (one row per sample):")
    print(batch_layer2)
    return {"layer1": layer1, "layer2": layer2, "layer2_from_printed_layer1": from_printed,
            "batch_layer2": batch_layer2}


if __name__ == "__main__":
    run()
