import json
import boto3


ecs = boto3.client('ecs')

def lambda_handler(event, context):
    
    records = event['Records']
    for record in records:
        body = json.loads(record['body'])
        que_id = body['que_id']
        receipt_handle = record['receiptHandle']
        response = run_task(que_id, receipt_handle)
        
    # lambdaの実行が成功するとメッセージを削除してしまうので、あえて例外エラーにする
    raise Exception('完了')

def run_task(que_id, receipt_handle):
    response = ecs.run_task(
        cluster='[クラスター名]',
        taskDefinition='[タスク名:リビジョン]',
        launchType='EC2',
        overrides={
            'containerOverrides': [
                {
                    'name': 'app',
                    'command': ["python","/app/manage.py","[実行コマンド]",str(que_id),'-r',receipt_handle],
                }
            ]
        },
    )
    return response
