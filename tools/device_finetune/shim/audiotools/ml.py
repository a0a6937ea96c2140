import torch


class BaseModel(torch.nn.Module):
    INTERN: list = []
    EXTERN: list = []


class Accelerator:
    pass
