import json


def handler(event, context):
    for record in event["Records"]:
        order = json.loads(record["Sns"]["Message"])
        print(f"audit: order {order['id']} total {order['total']}")
    return {"audited": len(event["Records"])}
