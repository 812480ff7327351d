def model(dbt, session):
    dbt.config(materialized="dp_twin")  # in the file: dbt gives Python models materialized=table otherwise
    return dbt.ref("customers")
