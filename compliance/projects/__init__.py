"""Project end of life: `enclave project close` deletes a closed project's data, keeps a deletion record."""
