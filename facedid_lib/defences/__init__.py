"""defences"""
