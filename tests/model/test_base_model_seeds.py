"""The seeds' BaseModel examples (model-guide.zh.md, getting-started-model-api.en.md) run as written.

Datasets are replaced by in-memory tensors; everything else is the seeds' code with the import
line changed to kiln.
"""

import torch
from torch import nn
from torch.optim import SGD

from kiln.model import BaseDataPreprocessor, BaseModel
from kiln.optim import OptimWrapper, build_optim_wrapper
from kiln.registry import MODELS


class NeuralNetwork(BaseModel):
    def __init__(self, data_preprocessor=None):
        super(NeuralNetwork, self).__init__(data_preprocessor)  # noqa: UP008 - as written in the seed
        self.flatten = nn.Flatten()
        self.linear_relu_stack = nn.Sequential(
            nn.Linear(28*28, 512),
            nn.ReLU(),
            nn.Linear(512, 512),
            nn.ReLU(),
            nn.Linear(512, 10),
        )
        self.loss = nn.CrossEntropyLoss()

    def forward(self, img, label, mode='tensor'):
        x = self.flatten(img)
        pred = self.linear_relu_stack(x)
        loss = self.loss(pred, label)
        if mode == 'loss':
            return dict(loss=loss)
        else:
            return pred.argmax(1), loss.item()


class NeuralNetwork1(NeuralNetwork):

    def __init__(self, data_preprocessor):
        super().__init__(data_preprocessor=data_preprocessor)
        self.data_preprocessor = data_preprocessor

    def train_step(self, data, optimizer):
        img, label = self.data_preprocessor(data)
        loss = self(img, label, mode='loss')['loss'].sum()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        return dict(loss=loss)

    def test_step(self, data):
        img, label = self.data_preprocessor(data)
        return self(img, label, mode='predict')

    def val_step(self, data):
        img, label = self.data_preprocessor(data)
        return self(img, label, mode='predict')


class NormalizeDataPreprocessor(BaseDataPreprocessor):

    def forward(self, data, training=False):
        img, label = [item for item in data]
        img = (img - 127.5) / 127.5
        return img, label


def test_fashion_mnist_network_trains_with_the_default_steps():
    model = NeuralNetwork()
    optim_wrapper = build_optim_wrapper(model, dict(optimizer=dict(type='SGD', lr=1e-3)))
    img, label = torch.rand(64, 1, 28, 28), torch.randint(0, 10, (64,))  # one DataLoader batch
    losses = [model.train_step((img, label), optim_wrapper)['loss'] for _ in range(3)]
    assert losses[-1] < losses[0]  # the same batch three times: the loss goes down
    preds, loss = model.val_step((img, label))
    assert preds.shape == (64,) and isinstance(loss, float)
    assert model.test_step((img, label))[0].shape == (64,)


def test_normalize_data_preprocessor_example_runs_as_written():
    model = NeuralNetwork1(data_preprocessor=NormalizeDataPreprocessor())
    optimizer = SGD(model.parameters(), lr=0.01)
    data = (torch.full((3, 28, 28), fill_value=127.5), torch.ones(3, 10))

    model.train_step(data, optimizer)
    model.val_step(data)
    result = model.test_step(data)
    # The seed prints e.g. ``(tensor([6, 6, 6]), 23.031166076660156)``: values depend on the init.
    assert isinstance(result, tuple) and result[0].shape == (3,) and isinstance(result[1], float)
    assert result[0].dtype == torch.int64 and len(set(result[0].tolist())) == 1  # identical images


def test_api_reference_toy_model():
    @MODELS.register_module(force=True)
    class ToyModel(BaseModel):

        def __init__(self):
            super().__init__()
            self.backbone = nn.Sequential()
            self.backbone.add_module('conv1', nn.Conv2d(3, 6, 5))
            self.backbone.add_module('pool', nn.MaxPool2d(2, 2))
            self.backbone.add_module('conv2', nn.Conv2d(6, 16, 5))
            self.backbone.add_module('flatten', nn.Flatten())  # the seed omits it (shape error)
            self.backbone.add_module('fc1', nn.Linear(16 * 5 * 5, 120))
            self.backbone.add_module('fc2', nn.Linear(120, 84))
            self.backbone.add_module('fc3', nn.Linear(84, 10))

            self.criterion = nn.CrossEntropyLoss()

        def forward(self, batch_inputs, data_samples, mode='tensor'):
            data_samples = torch.stack(data_samples)
            if mode == 'tensor':
                return self.backbone(batch_inputs)
            elif mode == 'predict':
                feats = self.backbone(batch_inputs)
                predictions = torch.argmax(feats, 1)
                return predictions
            elif mode == 'loss':
                feats = self.backbone(batch_inputs)
                loss = self.criterion(feats, data_samples)
                return dict(loss=loss)

    model = MODELS.build(dict(type='ToyModel'))
    opt = OptimWrapper(SGD(model.parameters(), lr=0.01))
    data = dict(batch_inputs=torch.rand(2, 3, 22, 22), data_samples=[torch.tensor(1), torch.tensor(3)])
    assert list(model.train_step(data, opt)) == ['loss']
    assert model.val_step(data).shape == (2,)
