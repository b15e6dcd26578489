"""Admission: the mutating and validating plugins, in kube-apiserver's default order."""
