"""Step 5: a batch of inputs through one layer.

Networks process many samples at once: the inputs become a matrix with one
sample per row, (4 samples, 4 features). Each output element is one sample dotted
with one neuron's weights, so we need inputs (4, 4) . weights.T (4, 3) -> (4, 3):
one row per sample, one column per neuron. ``weights.T`` turns the neuron rows of
the tutorial's weight matrix into columns. The bias vector is added to every row.

The first sample is the input of steps 2-4, so the first output row must be the
layer output found there. The other three are the 3-by-4 array that the tutorial
uses in its softmax section.
"""
import numpy as np


def run() -> dict:
    inputs = np.array([[2.1, 1.7, 3.3, 0.8],
                       [1.0, 2.0, 3.0, 2.5],
                       [2.0, 5.0, -1.0, 2.0],
                       [-1.5, 2.7, 3.3, -0.8]])
    weights = np.array([[0.5, -0.2, 0.9, -0.3],
                        [0.7, 0.4, -0.6, 0.8],
                        [-0.1, 0.6, 0.2, -0.7]])
    biases = np.array([1.5, 2.2, 0.9])

    outputs = np.dot(inputs, weights.T) + biases
    print(f"inputs {inputs.shape} . weights.T {weights.T.shape} + biases {biases.shape} "
          f"-> {outputs.shape}")
    print(outputs)
    print("First row (the sample of steps 2-4):", np.round(outputs[0], 2).tolist())
    return {"outputs": outputs}


if __name__ == "__main__":
    run()
