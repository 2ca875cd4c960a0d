import pytest
import torch


@pytest.fixture
def generator() -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(1234)
    return g
